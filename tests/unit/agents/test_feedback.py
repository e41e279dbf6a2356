from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.agents import T0, feedback, feedback_message
from tonebridge.agents.feedback import Limits, screened, screened_millis, tally
from tonebridge.agents.runtime.dedup import Bounds, SeenIds
from tonebridge.avro.codec import REGISTRY, encode_batch
from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.decisions.retraining import parse_policies
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.messages import Item, Message, Origin
from tonebridge.topics.spec import partition_for

RULES = parse_policies(
    {
        "policies": [
            {"name": "fix", "kind": "min_corrections", "threshold": 4},
            {"name": "low", "kind": "mean_rating_below", "threshold": 2.5, "min_samples": 3},
        ]
    }
)


def stream(n: int) -> list[Message]:
    """``n`` messages of 1-3 events, on two models, some corrected, some badly rated."""
    messages = []
    for i in range(n):
        model = ("model-a", "model-b")[i % 2]
        records = [
            feedback(model, n=10 * i + j, rating=1 + (i + j) % 5, corrected="Fixed." if j else None)
            for j in range(1 + i % 3)
        ]
        messages.append(feedback_message(records, offset=i))
    return messages


def run(batches: list[list[Message]]) -> tuple[dict[str, bytes], list[str]]:
    stored: dict[str, ModelFeedback] = {}
    commands: list[str] = []
    for batch in batches:
        out = tally(stored.get, batch, 4, RULES)
        stored.update(out.states)
        commands += [c["command_id"] for c in out.commands]
    return {k: v.to_json() for k, v in stored.items()}, commands


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=29), max_size=6))
def test_batching_does_not_change_the_state_or_the_commands(cuts: list[int]) -> None:
    messages = stream(30)
    edges = [0, *sorted(set(cuts)), 30]
    batches = [messages[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]
    one_by_one = run([[m] for m in messages])
    assert len(one_by_one[1]) >= 3  # the stream triggers policies
    assert run(batches) == one_by_one


def test_a_replayed_batch_changes_nothing() -> None:
    messages = stream(12)
    stored, commands = run([messages])
    again = tally(lambda k: ModelFeedback.from_json(stored[k]), messages, 4, RULES)
    assert again.states == {} and again.commands == []
    assert commands  # the stream did trigger something the first time


def test_an_invalid_event_is_rejected_and_its_neighbours_counted() -> None:
    records = [feedback(n=1), feedback(n=2, rating=9), feedback(n=3)]
    out = tally(lambda _: None, [feedback_message(records, offset=5)], 4, ())
    assert out.states["model-a"].overall.all_time.count == 2
    [(origin, reject)] = out.rejected
    assert (origin.offset, reject.index) == (5, 1)
    assert "rating" in reject.reason()


def test_an_event_on_another_models_partition_is_rejected() -> None:
    origin, value = feedback_message([feedback("model-a")], offset=0)
    moved = origin.__class__(origin.topic, (origin.partition + 1) % 4, 0, b"some-other-key")
    out = tally(lambda _: None, [(moved, value)], 4, ())
    assert out.states == {}
    assert "belongs on partition" in out.rejected[0][1].reason()


def test_an_invalid_event_does_not_make_its_corrected_retry_a_duplicate() -> None:
    """Only valid events count as seen: the bad one is dead-lettered, its fix is counted."""
    bad = {**feedback(n=1), "user_id": "a\x00b"}
    seen = SeenIds(lambda _: [], Bounds()).batch()
    out = tally(
        lambda _: None,
        [feedback_message([bad], 0), feedback_message([feedback(n=1)], 1)],
        4,
        (),
        seen=seen,
    )
    assert out.states["model-a"].overall.all_time.count == 1
    [(_, reject)] = out.rejected
    assert "user_id contains a NUL character" in reject.reason()


def test_a_repeated_event_id_is_counted_once() -> None:
    seen = SeenIds(lambda _: [], Bounds()).batch()
    batch = [
        feedback_message([feedback(n=1), feedback(n=1)], 0),
        feedback_message([feedback(n=1)], 1),
    ]
    out = tally(lambda _: None, batch, 4, (), seen=seen)
    assert out.states["model-a"].overall.all_time.count == 1 and not out.rejected


def test_far_future_events_and_over_many_types_are_bounded() -> None:
    future = feedback(n=1, at=datetime.now(UTC) + timedelta(hours=1))
    kinds = [feedback(n=n, kind=f"tone-{n}") for n in range(10)]
    out = tally(lambda _: None, [feedback_message([future, *kinds], 0)], 4, (), Limits(max_types=3))
    state = out.states["model-a"]
    assert state.overall.all_time.count == 10
    assert sorted(state.by_type) == ["other", "tone-0", "tone-1", "tone-2"]
    assert state.by_type["other"].all_time.count == 7
    [(_, reject)] = out.rejected
    assert "in the future" in reject.reason()


def _screen_each_alone(items: list[Item], origin: Origin, now: datetime) -> tuple[Any, Any]:
    good, bad = [], []
    for item in items:
        one_good, one_bad = screened([item], origin, 4, now, Limits())
        good += one_good
        bad += one_bad
    return good, bad


def _moved(model_id: str) -> str:
    """A model id that routes to another partition than ``model_id``."""
    home = partition_for(model_id.encode(), 4)
    return next(
        m for m in (f"model-{i}" for i in range(99)) if partition_for(m.encode(), 4) != home
    )


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"rating": 9},
        {"user_id": "a\x00b"},
        {"model_id": "a b"},
        {"model_id": _moved("model-a")},
        {"metadata": {"k": "v" * 2001}},
        {"event_time": T0 + timedelta(days=2)},
        {"input_text": "caf\u00e9"},  # valid, but not plain ASCII: checked on its own
    ],
)
def test_a_message_is_screened_as_its_events_one_by_one(change: dict[str, Any]) -> None:
    records = [feedback(n=n, corrected="Fixed." if n % 2 else None) for n in range(4)]
    records[2] = records[2] | change
    origin, value = feedback_message(records, offset=0)
    items = FEEDBACK_TOPIC.read(value).items
    now = T0 + timedelta(days=1)
    good, bad = screened(items, origin, 4, now, Limits())
    alone_good, alone_bad = _screen_each_alone(items, origin, now)
    assert good == alone_good
    assert [(r.index, r.reason()) for r in bad] == [(r.index, r.reason()) for r in alone_bad]
    assert len(good) == (4 if change in ({}, {"input_text": "caf\u00e9"}) else 3)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"rating": 9},
        {"user_id": "a\x00b"},
        {"model_id": _moved("model-a")},
        {"metadata": {"k": "v" * 2001}},
        {"event_time": T0 + timedelta(days=1, minutes=5, milliseconds=1)},  # just too late
        {"event_time": T0 + timedelta(days=1, minutes=5)},  # the latest allowed
        {"event_time": -1},  # before the epoch: valid, read as a datetime
        {"event_time": 2**62},  # no datetime holds it: a corrupt body
        {"input_text": "caf\u00e9"},
    ],
)
def test_the_millis_read_takes_a_message_only_if_screened_accepts_it_all(
    change: dict[str, Any],
) -> None:
    records = [feedback(n=n, corrected="Fixed." if n % 2 else None) for n in range(4)]
    records[2] = records[2] | change
    origin, value = feedback_message(records, offset=0)
    now = T0 + timedelta(days=1)
    intake = FEEDBACK_TOPIC.read(value)
    good, bad = screened(intake.items, origin, 4, now, Limits())
    fast = screened_millis(value, origin, 4, now, Limits())
    if bad or intake.rejects:
        assert fast is None
    if fast is not None:
        assert [(i.index, s) for i, s in fast] == [(i.index, s) for i, s in good]
    # the common case takes the millis read (not a time before the epoch, nor non-ASCII text)
    common = change in ({}, {"event_time": T0 + timedelta(days=1, minutes=5)})
    assert (fast is not None) == common


def test_an_event_time_no_datetime_holds_is_rejected_as_before() -> None:
    records = [feedback(n=n) for n in range(3)]
    records[1] = records[1] | {"event_time": 2**62}
    out = tally(lambda _: None, [feedback_message(records, 0)], 4, ())
    assert out.states["model-a"].overall.all_time.count == 2
    [(_, reject)] = out.rejected
    assert reject.index == 1 and "corrupt FeedbackEvent body" in reject.reason()


def _rating_past_32_bits(record: dict[str, Any], rating: int) -> bytes:
    """``record`` encoded as a hostile producer may write it: a rating no Avro int holds (the
    same varint as a long's; fastavro's writer refuses it, so it is written as a long)."""
    schema = json.loads(REGISTRY.latest("FeedbackEvent").path.read_text())
    schema["fields"] = [
        f | {"type": ["null", "long"]} if f["name"] == "rating" else f for f in schema["fields"]
    ]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), record | {"rating": rating})
    return REGISTRY.latest("FeedbackEvent").header + body.getvalue()


@pytest.mark.parametrize("rating", [2**32 + 3, -(2**32) + 3])
def test_a_rating_past_32_bits_is_a_dead_letter_not_its_low_bits(rating: int) -> None:
    """Whatever reads the batch (cavro keeps an int's low 32 bits), the rating judged is the
    one written: 2**32 + 3 is not a rating of 3."""
    records = [feedback(n=n) for n in range(3)]
    events = [FEEDBACK_TOPIC.encode(r).value for r in records]
    events[1] = _rating_past_32_bits(records[1], rating)
    origin, _ = feedback_message(records, 0)
    out = tally(lambda _: None, [(origin, encode_batch(events))], 4, ())
    assert out.states["model-a"].overall.all_time.count == 2
    [(_, reject)] = out.rejected
    assert reject.index == 1 and f"rating must be 1..5 or null, got {rating}" in reject.reason()
