from __future__ import annotations

from tonebridge.api.errors import describe


def test_describe_names_every_field() -> None:
    errors = [
        {"loc": ("body", "events", 3, "rating"), "msg": "Input should be less than or equal to 5"},
        {"loc": ("header", "Idempotency-Key"), "msg": "String should match pattern"},
    ]
    assert describe(errors) == (
        "body.events.3.rating: Input should be less than or equal to 5; "
        "header.Idempotency-Key: String should match pattern"
    )
