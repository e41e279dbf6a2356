from __future__ import annotations

from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.messages import Origin


def test_dead_letter_ids_are_stable_per_place() -> None:
    intake = FEEDBACK_TOPIC.read(b"junk")
    origin = Origin("t", 1, 7, None)
    reject = intake.rejects[0]
    assert reject.dead_letter_id(origin) == reject.dead_letter_id(origin)
    assert reject.dead_letter_id(origin) != reject.dead_letter_id(Origin("t", 1, 8, None))
