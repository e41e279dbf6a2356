"""Can a newer schema read what an older one wrote? Avro's "Schema Resolution" rules.

Every schema with versions v1..vN must let vN read data written by v(N-1), so consumers can be
upgraded before producers. :func:`check_registry` checks each consecutive pair;
:func:`read_problems` checks any writer/reader pair.

One rule is stricter than the specification: a logical type may not change (a ``long`` written
as ``timestamp-millis`` and read as ``timestamp-micros`` would decode without error, but wrong).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tonebridge.avro.codec import SchemaRegistry

Schema = Any  # a fastavro-parsed schema: a str, a list (union) or a dict

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "enum", "fixed"})
PROMOTIONS: Mapping[str, frozenset[str]] = {
    "int": frozenset({"long", "float", "double"}),
    "long": frozenset({"float", "double"}),
    "float": frozenset({"double"}),
    "string": frozenset({"bytes"}),
    "bytes": frozenset({"string"}),
}


@dataclass(frozen=True)
class Incompatibility:
    """Version ``reader_version`` of ``name`` cannot read data of ``writer_version``."""

    name: str
    writer_version: int
    reader_version: int
    problem: str

    def __str__(self) -> str:
        return f"{self.name} v{self.reader_version} cannot read v{self.writer_version}: " + (
            self.problem
        )


def check_registry(registry: SchemaRegistry) -> list[Incompatibility]:
    """Every problem between consecutive versions of every schema in ``registry``."""
    found: list[Incompatibility] = []
    for name, versions in sorted(registry.by_name.items()):
        numbers = sorted(versions)
        if numbers != list(range(1, len(numbers) + 1)):
            found.append(Incompatibility(name, 0, numbers[-1], f"versions {numbers} have a gap"))
        for older, newer in zip(numbers, numbers[1:], strict=False):
            for problem in read_problems(versions[older].parsed, versions[newer].parsed):
                found.append(Incompatibility(name, older, newer, problem))
    return found


def read_problems(writer: Schema, reader: Schema) -> list[str]:
    """Why ``reader`` cannot read data written with ``writer``; empty when it can."""
    return _Resolver(writer, reader).problems(writer, reader, _short(writer))


def _short(schema: Schema) -> str:
    name = schema.get("name") or schema["type"] if isinstance(schema, dict) else str(schema)
    return str(name).rsplit(".", 1)[-1]


class _Resolver:
    def __init__(self, writer: Schema, reader: Schema) -> None:
        self._writer_names = _named(writer)
        self._reader_names = _named(reader)
        self._visiting: set[tuple[str, str]] = set()

    def problems(self, writer: Schema, reader: Schema, path: str) -> list[str]:
        w = _expand(writer, self._writer_names)
        r = _expand(reader, self._reader_names)
        if isinstance(w, list):
            return [p for branch in w for p in self.problems(branch, r, path)]
        if isinstance(r, list):
            return self._into_union(w, r, path)
        return self._same_kind(w, r, path)

    def _into_union(self, w: dict[str, Any], r: list[Schema], path: str) -> list[str]:
        # Avro picks the first reader branch that matches the writer's type.
        for branch in r:
            candidate = _expand(branch, self._reader_names)
            if _matches(w, candidate):
                return self.problems(w, candidate, path)
        return [f"{path}: {_describe(w)} is not in the reader's union"]

    def _same_kind(self, w: dict[str, Any], r: dict[str, Any], path: str) -> list[str]:
        if not _matches(w, r):
            return [f"{path}: {_describe(w)} cannot be read as {_describe(r)}"]
        if w.get("logicalType") != r.get("logicalType"):
            return [f"{path}: logical type {w.get('logicalType')} became {r.get('logicalType')}"]
        kind = w["type"]
        if kind == "record":
            return self._record(w, r, path)
        if kind == "enum":
            return _enum(w, r, path)
        if kind == "fixed" and w["size"] != r["size"]:
            return [f"{path}: fixed size {w['size']} became {r['size']}"]
        if kind == "array":
            return self.problems(w["items"], r["items"], f"{path}[]")
        if kind == "map":
            return self.problems(w["values"], r["values"], f"{path}{{}}")
        return []

    def _record(self, w: dict[str, Any], r: dict[str, Any], path: str) -> list[str]:
        pair = (w["name"], r["name"])
        if pair in self._visiting:  # a recursive type already being compared
            return []
        self._visiting.add(pair)
        writer_fields = {f["name"]: f for f in w["fields"]}
        found: list[str] = []
        for field in r["fields"]:
            names = [field["name"], *field.get("aliases", [])]
            source = next((writer_fields[n] for n in names if n in writer_fields), None)
            where = f"{path}.{field['name']}"
            if source is not None:
                found += self.problems(source["type"], field["type"], where)
            elif "default" not in field:
                found.append(f"{where}: new field has no default")
        self._visiting.discard(pair)
        return found


def _enum(w: dict[str, Any], r: dict[str, Any], path: str) -> list[str]:
    if "default" in r:
        return []
    lost = [s for s in w["symbols"] if s not in r["symbols"]]
    return [f"{path}: reader has no symbol {', '.join(lost)} and no default"] if lost else []


def _named(schema: Schema) -> dict[str, Any]:
    names = schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
    return dict(names)


def _expand(schema: Schema, names: Mapping[str, Any]) -> Any:
    """A union as a list, anything else as a dict with a ``type``."""
    if isinstance(schema, list):
        return schema
    if isinstance(schema, str):
        return {"type": schema} if schema in PRIMITIVES else _expand(names[schema], names)
    if isinstance(schema["type"], dict | list):
        return _expand(schema["type"], names)
    return schema


def _matches(w: dict[str, Any], r: dict[str, Any]) -> bool:
    """Same type (and name, for named types), or a promotion Avro allows."""
    if w["type"] != r["type"]:
        return r["type"] in PROMOTIONS.get(w["type"], frozenset())
    if w["type"] not in NAMED:
        return True
    reader_names = {_unqualified(r["name"]), *map(_unqualified, r.get("aliases", []))}
    return _unqualified(w["name"]) in reader_names


def _unqualified(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _describe(schema: dict[str, Any]) -> str:
    kind = str(schema["type"])
    return f"{kind} {_unqualified(schema['name'])}" if kind in NAMED else kind
