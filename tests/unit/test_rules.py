"""The input rules: each text rule, and ``check_fields``'s quick path agreeing with them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

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
