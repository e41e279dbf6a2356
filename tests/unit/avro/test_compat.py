"""The compatibility check: on the committed schemas, and proven on evolved ones in a tmp dir."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from tests.support.samples import sample
from tonebridge.avro.codec import REGISTRY, SCHEMA_DIR, SchemaRegistry, encode
from tonebridge.avro.compat import check_registry, read_problems

V1 = json.loads((SCHEMA_DIR / "feedback" / "feedback_event.v1.avsc").read_text())


def test_each_committed_version_reads_the_one_before() -> None:
    assert check_registry(SchemaRegistry.from_directory(SCHEMA_DIR)) == []


@pytest.mark.parametrize("name", sorted(REGISTRY.by_name))
def test_every_committed_schema_reads_itself(name: str) -> None:
    schema = REGISTRY.latest(name).parsed
    assert read_problems(schema, schema) == []


def evolve(**changes: Any) -> dict[str, Any]:
    """FeedbackEvent v1 with fields replaced, added (``+name``) or removed (value None)."""
    fields = {f["name"]: f for f in V1["fields"]}
    for name, field in changes.items():
        if field is None:
            del fields[name]
        else:
            fields[name.lstrip("+")] = {"name": name.lstrip("+"), **field}
    return {**V1, "fields": list(fields.values())}


def write_versions(root: Path, v2: dict[str, Any]) -> SchemaRegistry:
    family = root / "feedback"
    family.mkdir(parents=True)
    (family / "feedback_event.v1.avsc").write_text(json.dumps(V1))
    (family / "feedback_event.v2.avsc").write_text(json.dumps(v2))
    return SchemaRegistry.from_directory(root)


def read_v1_bytes_with(registry: SchemaRegistry) -> dict[str, Any]:
    """What fastavro itself makes of v1 bytes read with v2."""
    body = encode("FeedbackEvent", sample("FeedbackEvent"), version=1)[10:]
    reader = registry.version("FeedbackEvent", 2).parsed
    writer = registry.version("FeedbackEvent", 1).parsed
    result: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(body), writer, reader)
    return result


COMPATIBLE = {
    "added field with a default": {"+channel": {"type": "string", "default": "app"}},
    "removed field": {"session_id": None},
    "int widened to long": {"rating": {"type": ["null", "long"], "default": None}},
    "union gained a branch": {"rating": {"type": ["null", "int", "string"], "default": None}},
    "plain string read into a union": {"user_id": {"type": ["string", "null"]}},
    "renamed with an alias": {
        "user_id": None,
        "+author_id": {"type": "string", "aliases": ["user_id"]},
    },
}
INCOMPATIBLE = {
    "added field without default": ({"+channel": {"type": "string"}}, "channel: new field"),
    "string became int": ({"user_id": {"type": "int"}}, "user_id: string cannot be read as int"),
    "union lost a branch": ({"rating": {"type": "int"}}, "rating: null cannot be read as int"),
    "long narrowed to int": (
        {"event_time": {"type": "int"}},
        "event_time: long cannot be read as int",
    ),
    "map became array": (
        {"metadata": {"type": {"type": "array", "items": "string"}, "default": []}},
        "metadata: map cannot be read as array",
    ),
}


@pytest.mark.parametrize("change", sorted(COMPATIBLE))
def test_a_compatible_v2_is_accepted(tmp_path: Path, change: str) -> None:
    registry = write_versions(tmp_path, evolve(**COMPATIBLE[change]))
    assert check_registry(registry) == []
    assert read_v1_bytes_with(registry)["event_id"] == sample("FeedbackEvent")["event_id"]


@pytest.mark.parametrize("change", sorted(INCOMPATIBLE))
def test_an_incompatible_v2_is_flagged(tmp_path: Path, change: str) -> None:
    fields, problem = INCOMPATIBLE[change]
    registry = write_versions(tmp_path, evolve(**fields))
    found = check_registry(registry)
    assert [(i.name, i.writer_version, i.reader_version) for i in found] == [
        ("FeedbackEvent", 1, 2)
    ]
    assert problem in found[0].problem


def test_flagged_schemas_really_fail_to_read_old_bytes(tmp_path: Path) -> None:
    # The checker agrees with fastavro's own resolution on a flagged case.
    registry = write_versions(tmp_path, evolve(**{"+channel": {"type": "string"}}))
    with pytest.raises(fastavro.read.SchemaResolutionError):
        read_v1_bytes_with(registry)


def test_enum_losing_a_symbol_is_flagged_unless_it_has_a_default() -> None:
    writer = {"type": "enum", "name": "Kind", "symbols": ["sft", "dpo", "kto"]}
    narrowed = {"type": "enum", "name": "Kind", "symbols": ["sft", "dpo"]}
    assert read_problems(writer, narrowed) == ["Kind: reader has no symbol kto and no default"]
    assert read_problems(writer, {**narrowed, "default": "sft"}) == []
    assert read_problems(narrowed, writer) == []


def test_a_changed_logical_type_is_flagged() -> None:
    # Not reachable through version files (the canonical form, hence the fingerprint, ignores
    # logical types, so the registry refuses such a v2), but a reader must never reinterpret.
    millis = {"type": "long", "logicalType": "timestamp-millis"}
    micros = {"type": "long", "logicalType": "timestamp-micros"}
    assert read_problems(millis, micros) == [
        "long: logical type timestamp-millis became timestamp-micros"
    ]


def test_nested_records_and_renamed_types_are_checked() -> None:
    def arms(item: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "record",
            "name": "T",
            "fields": [{"name": "arms", "type": {"type": "array", "items": item}}],
        }

    arm = {"type": "record", "name": "Arm", "fields": [{"name": "weight", "type": "float"}]}
    wider = {**arm, "fields": [{"name": "weight", "type": "double"}]}
    renamed = {**arm, "name": "Branch"}
    stricter = {**arm, "fields": [*arm["fields"], {"name": "id", "type": "string"}]}
    parse = fastavro.parse_schema
    assert read_problems(parse(arms(arm)), parse(arms(wider))) == []
    assert read_problems(parse(arms(arm)), parse(arms(renamed))) == [
        "T.arms[]: record Arm cannot be read as record Branch"
    ]
    assert read_problems(parse(arms(arm)), parse(arms(stricter))) == [
        "T.arms[].id: new field has no default"
    ]


def test_a_gap_between_versions_is_flagged(tmp_path: Path) -> None:
    family = tmp_path / "feedback"
    family.mkdir()
    (family / "feedback_event.v1.avsc").write_text(json.dumps(V1))
    (family / "feedback_event.v3.avsc").write_text(json.dumps(evolve(session_id=None)))
    found = check_registry(SchemaRegistry.from_directory(tmp_path))
    assert ["gap" in i.problem for i in found] == [True]
