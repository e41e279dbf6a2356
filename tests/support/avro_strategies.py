"""Hypothesis strategies that build any record a fastavro-parsed schema accepts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

_MIN_TIME = datetime(1900, 1, 1)  # noqa: DTZ001 - hypothesis wants naive bounds
_MAX_TIME = datetime(2200, 1, 1)  # noqa: DTZ001

_PRIMITIVES: Mapping[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "long": st.integers(-(2**63), 2**63 - 1),
    # NaN never equals itself, so a round trip could not be compared; infinities are kept.
    "float": st.floats(allow_nan=False, width=32),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=64),
    "string": st.text(max_size=32),
}


def _millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


_LOGICAL: Mapping[str, st.SearchStrategy[Any]] = {
    "timestamp-millis": st.datetimes(_MIN_TIME, _MAX_TIME, timezones=st.just(UTC)).map(_millis),
}


def records(schema: Any) -> st.SearchStrategy[Any]:
    """Values of the fastavro-parsed ``schema`` (a top-level record, usually)."""
    return _of(schema, schema.get("__named_schemas", {}))


def _of(schema: Any, names: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    if isinstance(schema, list):
        return st.one_of([_of(branch, names) for branch in schema])
    if isinstance(schema, str):
        return _PRIMITIVES[schema] if schema in _PRIMITIVES else _of(names[schema], names)
    kind = schema["type"]
    if isinstance(kind, dict | list):
        return _of(kind, names)
    if schema.get("logicalType") in _LOGICAL:
        return _LOGICAL[schema["logicalType"]]
    if kind == "record":
        fields = {f["name"]: _of(f["type"], names) for f in schema["fields"]}
        return st.fixed_dictionaries(fields)
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(_of(schema["items"], names), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), _of(schema["values"], names), max_size=4)
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    return _PRIMITIVES[kind]
