"""The input rules: each text rule, and ``check_fields``'s quick path agreeing with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tonebridge import rules
from tonebridge.errors import InvalidEventError
from tonebridge.rules import ID, LABEL, NAME, OPTIONAL_ID, OPTIONAL_TEXT, TEXT, TextRule

VALUES: list[Any] = [
    None,
    "",
    "model-1",
    "a b",
    "a\x00b",
    "caf\u00e9",
    "\ud800",
    "x" * 64,
    "x" * 65,
    "x" * 255,
    "x" * 256,
    "-leading-dash",
    "ok:v1/adapter@2+x",
    7,
    b"bytes",
]
RULES = [ID, OPTIONAL_ID, NAME, LABEL, TEXT, OPTIONAL_TEXT]


def outcome(check: Any) -> str:
    try:
        check()
    except InvalidEventError as exc:
        return str(exc)
    return "accepted"


@pytest.mark.parametrize("rule", RULES, ids=repr)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_check_fields_decides_as_check_text_does(value: Any, rule: TextRule) -> None:
    by_fields = outcome(lambda: rules.check_fields({"field": value}, {"field": rule}))
    assert by_fields == outcome(lambda: rules.check_text(value, "field", rule))


@pytest.mark.parametrize(
    ("value", "rule", "reason"),
    [
        ("a\x00b", LABEL, "user_id contains a NUL character"),
        ("\ud800", TEXT, "user_id contains a lone surrogate"),
        ("x" * 65, ID, "user_id is 65 characters long, more than 64"),
        ("a b", ID, "is not an id"),
        ("", NAME, "user_id is empty"),
        (None, LABEL, "missing user_id"),
        (3, LABEL, "user_id must be a string, not int"),
    ],
)
def test_a_broken_rule_names_the_field(value: Any, rule: TextRule, reason: str) -> None:
    with pytest.raises(InvalidEventError, match=reason.replace("(", r"\(")):
        rules.check_fields({"user_id": value}, {"user_id": rule})


def test_free_text_may_be_empty_and_optional_fields_absent() -> None:
    rules.check_fields({"text": ""}, {"text": TEXT, "other": OPTIONAL_TEXT})


def test_metadata_is_bounded() -> None:
    assert rules.check_metadata({"k": "v"}) == {"k": "v"}
    with pytest.raises(InvalidEventError, match="metadata.k is 2001 characters"):
        rules.check_metadata({"k": "v" * 2001})
    with pytest.raises(InvalidEventError, match="51 entries"):
        rules.check_metadata({str(i): "v" for i in range(51)})


def test_reference_time_is_the_record_timestamp_capped_at_now() -> None:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    earlier = now - timedelta(hours=1)
    assert rules.reference_time(int(earlier.timestamp() * 1000), now) == earlier
    assert rules.reference_time(int((now + timedelta(days=1)).timestamp() * 1000), now) == now
    assert rules.reference_time(None, now) == now


ID_VALUES: list[Any] = [*VALUES, "a\n", "a\nb", "model-1\x00model-2", "\u0660"]
TWO = {"first": ID, "second": OPTIONAL_TEXT}


@pytest.mark.parametrize("rule", RULES, ids=repr)
@pytest.mark.parametrize("value", ID_VALUES, ids=repr)
def test_all_fit_accepts_only_what_check_fields_accepts(value: Any, rule: TextRule) -> None:
    fields = {"field": rule, "other": OPTIONAL_ID}
    good = {"field": "model-1" if rule.identifier else "some text", "other": None}
    records = [good, {"field": value, "other": "x-1"}, good]
    if rules.all_fit(records, fields):
        for record in records:
            rules.check_fields(record, fields)  # raises if all_fit was wrong


def test_all_fit_takes_the_common_case() -> None:
    records = [{"first": f"id-{n}", "second": None if n % 2 else "text"} for n in range(5)]
    assert rules.all_fit(records, TWO)
    assert rules.all_fit([], TWO)
    assert not rules.all_fit([*records, {"first": "id-9"}], TWO)  # an absent field
    assert not rules.all_fit([*records, {"first": "id 9", "second": None}], TWO)
    assert not rules.all_fit([*records, {"first": "id-9", "second": "\x00"}], TWO)
    assert not rules.all_fit([{"first": "id-1", "second": "caf\u00e9"}], TWO)  # look closer


def test_times_fit_takes_utc_times_up_to_the_allowed_future() -> None:
    now, skew = datetime(2026, 1, 2, tzinfo=UTC), timedelta(minutes=5)
    assert rules.times_fit([now - timedelta(days=400), now + skew], now, skew)
    assert rules.times_fit([], now, skew)
    assert not rules.times_fit([now, now + skew + timedelta(milliseconds=1)], now, skew)
    assert not rules.times_fit([now, now.replace(tzinfo=None)], now, skew)
    assert not rules.times_fit([now, "2026-01-02"], now, skew)


def test_metadata_fit_is_check_metadata_for_each() -> None:
    assert rules.metadata_fit([None, {}, {"k": "v"}])
    assert not rules.metadata_fit([{}, {"k": "v" * 2001}])
    assert not rules.metadata_fit([{}, ["not", "a", "map"]])


def test_feedback_fits_agrees_with_check_feedback() -> None:
    from tests.support.samples import sample

    now, skew = datetime(2030, 1, 1, tzinfo=UTC), timedelta(minutes=5)
    good = [sample("FeedbackEvent", n) for n in range(3)]
    assert rules.feedback_fits(good, now, skew)
    later = now + timedelta(minutes=6)
    for change in ({"model_id": "a b"}, {"metadata": {"k": "\x00"}}, {"event_time": later}):
        bad = good[0] | change
        assert not rules.feedback_fits([*good, bad], now, skew)
        assert outcome(lambda bad=bad: rules.check_feedback(bad, now, skew)) != "accepted"


@pytest.mark.parametrize("rule", RULES, ids=repr)
@pytest.mark.parametrize("value", ID_VALUES, ids=repr)
def test_texts_fit_accepts_only_what_check_text_accepts(value: Any, rule: TextRule) -> None:
    if rules.texts_fit(["fine-1", value], rule):
        assert outcome(lambda: rules.check_text(value, "field", rule)) == "accepted"
    assert rules.texts_fit(["fine-1", "fine-2"], rule)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_MS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)


@settings(max_examples=200, deadline=None)
@given(
    millis=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=4),
    now_us=st.integers(min_value=0, max_value=4_000_000_000_000_000),
)
def test_millis_fit_accepts_only_what_times_fit_accepts_as_datetimes(
    millis: list[int], now_us: int
) -> None:
    """A time read as epoch ms passes only if the datetime a full read gives passes."""
    now, skew = _EPOCH + timedelta(microseconds=now_us), timedelta(minutes=5)
    if rules.millis_fit(millis, now, skew):
        moments = [_EPOCH + timedelta(milliseconds=ms) for ms in millis]
        assert rules.times_fit(moments, now, skew)
    elif 0 <= min(millis, default=0) and max(millis, default=0) <= _LAST_MS:
        # a time from the epoch on that a datetime holds: it decides as times_fit does
        moments = [_EPOCH + timedelta(milliseconds=ms) for ms in millis]
        assert not rules.times_fit(moments, now, skew)


def test_millis_fit_decides_at_the_microsecond_and_takes_only_ints() -> None:
    now, skew = datetime(2026, 1, 2, 0, 0, 0, 999, tzinfo=UTC), timedelta(minutes=5)
    last = (now + skew - _EPOCH) // timedelta(milliseconds=1)
    assert rules.millis_fit([0, last], now, skew)
    assert not rules.millis_fit([last + 1], now, skew)
    assert not rules.millis_fit([-1, last], now, skew)  # before the epoch: read it as a datetime
    assert not rules.millis_fit([True], now, skew)
    assert not rules.millis_fit([now], now, skew)  # a datetime is not what it judges
    assert rules.millis_fit([], now, skew)
    assert rules.feedback_fits([], now, skew, millis=True)
