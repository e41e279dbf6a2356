from __future__ import annotations

import pytest

from tests.support.agents import feedback, message, outcome
from tonebridge.avro.codec import encode_batch
from tonebridge.errors import DecodeError, InvalidEventError, SchemaValidationError
from tonebridge.topics.feedback import FEEDBACK_EVENT, FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC
from tonebridge.topics.messages import Origin, read_message, require_partition
from tonebridge.topics.spec import partition_for


def test_a_batch_with_one_bad_event_rejects_only_that_event() -> None:
    good = [FEEDBACK_TOPIC.encode(feedback(n=n)).value for n in range(3)]
    payload = encode_batch([good[0], b"\xc3\x01garbage!!", good[1], good[2]])
    intake = read_message(payload, (FEEDBACK_EVENT,))
    assert [item.index for item in intake.items] == [0, 2, 3]
    assert [r.index for r in intake.rejects] == [1]
    assert isinstance(intake.rejects[0].error, DecodeError)
    assert intake.rejects[0].payload == b"\xc3\x01garbage!!"
    assert "event 1 of the message" in intake.rejects[0].reason()


def test_an_event_of_another_type_is_rejected() -> None:
    _, value = message(INFERENCE_OUTCOMES_TOPIC, [outcome()], 0)
    intake = read_message(value, (FEEDBACK_EVENT,))
    assert not intake.items
    assert isinstance(intake.rejects[0].error, SchemaValidationError)


@pytest.mark.parametrize("payload", [b"not avro at all", None, b""])
def test_an_unreadable_message_is_rejected_whole(payload: bytes | None) -> None:
    intake = read_message(payload, (FEEDBACK_EVENT,))
    assert not intake.items
    assert [r.index for r in intake.rejects] == [None]
    assert intake.rejects[0].reason().startswith("message:")


def test_dead_letter_ids_are_stable_per_place() -> None:
    intake = read_message(b"junk", (FEEDBACK_EVENT,))
    origin = Origin("t", 1, 7, None)
    reject = intake.rejects[0]
    assert reject.dead_letter_id(origin) == reject.dead_letter_id(origin)
    assert reject.dead_letter_id(origin) != reject.dead_letter_id(Origin("t", 1, 8, None))


def test_an_event_must_arrive_on_its_keys_partition() -> None:
    partition = partition_for(b"model-x", 4)
    require_partition("model-x", Origin("t", partition, 0, b"other-key"), 4)
    with pytest.raises(InvalidEventError, match="belongs on partition"):
        require_partition("model-x", Origin("t", (partition + 1) % 4, 0, b"other-key"), 4)
