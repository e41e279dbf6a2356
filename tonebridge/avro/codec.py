"""Avro single-object encoding (Avro spec, "Single-object encoding").

A payload is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's parsing canonical form + the Avro binary body. A reader looks the writer schema up
by fingerprint and resolves it against the newest version it knows of the same event, so old
and new writers both decode (schema evolution).

Several events may travel in one Kafka message as an ``EventBatch`` whose items are each a
single-object-encoded event; :func:`split_message` accepts both forms. Reading a message is
:class:`tonebridge.topics.spec.TopicSpec`'s job: it knows which events its topic carries.

Every schema under ``tonebridge/avro/<family>/<event>.v<N>.avsc`` is parsed at import, so a
broken schema fails at import (and test collection), not in production.
"""

from __future__ import annotations

import io
import json
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import to_parsing_canonical_form

from tonebridge.errors import DecodeError, SchemaValidationError, UnknownSchemaError

MAGIC = b"\xc3\x01"
HEADER_LEN = 10
BATCH = "EventBatch"
SCHEMA_DIR = Path(__file__).parent
_FILE_NAME = re.compile(r"^(?P<event>[a-z_]+)\.v(?P<version>\d+)\.avsc$")

_EMPTY = 0xC15D213AA4D7A795
_FP_TABLE: list[int] = []
for _i in range(256):
    _fp = _i
    for _ in range(8):
        _fp = (_fp >> 1) ^ (_EMPTY & -(_fp & 1))
    _FP_TABLE.append(_fp)


def rabin_fingerprint(data: bytes) -> int:
    """CRC-64-AVRO (Rabin) fingerprint, as defined by the Avro specification."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _FP_TABLE[(fp ^ byte) & 0xFF]
    return fp


Record = dict[str, Any]


@dataclass(frozen=True)
class SchemaVersion:
    """One parsed ``.avsc`` file."""

    name: str  # short record name, e.g. "FeedbackEvent"
    version: int
    path: Path
    parsed: Any
    fingerprint: bytes  # 8 bytes, little-endian, as written after the marker

    @property
    def header(self) -> bytes:
        return MAGIC + self.fingerprint


@dataclass(frozen=True)
class Decoded:
    """An event read from the wire, already resolved to the reader's newest schema."""

    name: str
    writer_version: int
    record: Record


def _load(path: Path) -> SchemaVersion:
    match = _FILE_NAME.match(path.name)
    if match is None:
        msg = f"schema file name must look like <event>.v<N>.avsc: {path}"
        raise ValueError(msg)
    parsed: dict[str, Any] = fastavro.parse_schema(json.loads(path.read_text()))  # type: ignore[assignment]
    canonical = to_parsing_canonical_form(parsed).encode()
    fingerprint = struct.pack("<Q", rabin_fingerprint(canonical))
    name = str(parsed["name"]).rsplit(".", 1)[-1]
    return SchemaVersion(name, int(match["version"]), path, parsed, fingerprint)


class SchemaRegistry:
    """Every known schema version, by name and by fingerprint."""

    def __init__(self, versions: Iterable[SchemaVersion]) -> None:
        self.by_fingerprint: dict[bytes, SchemaVersion] = {}
        self.by_name: dict[str, dict[int, SchemaVersion]] = {}
        for schema in versions:
            if schema.fingerprint in self.by_fingerprint:
                msg = f"two schema files share a fingerprint: {schema.path}"
                raise ValueError(msg)
            self.by_fingerprint[schema.fingerprint] = schema
            self.by_name.setdefault(schema.name, {})[schema.version] = schema

    @classmethod
    def from_directory(cls, root: Path) -> SchemaRegistry:
        return cls(_load(path) for path in sorted(root.glob("*/*.avsc")))

    def latest(self, name: str) -> SchemaVersion:
        try:
            versions = self.by_name[name]
        except KeyError:
            msg = f"no schema named {name!r}"
            raise UnknownSchemaError(msg) from None
        return versions[max(versions)]

    def version(self, name: str, version: int) -> SchemaVersion:
        try:
            return self.by_name[name][version]
        except KeyError:
            msg = f"no schema {name!r} version {version}"
            raise UnknownSchemaError(msg) from None


REGISTRY = SchemaRegistry.from_directory(SCHEMA_DIR)


def encode(name: str, record: Mapping[str, Any], version: int | None = None) -> bytes:
    """Encode one event with the newest (or the given) version of schema ``name``."""
    schema = REGISTRY.latest(name) if version is None else REGISTRY.version(name, version)
    buffer = io.BytesIO()
    buffer.write(schema.header)
    try:
        fastavro.schemaless_writer(buffer, schema.parsed, record)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        msg = f"{name} record does not fit schema v{schema.version}: {exc}"
        raise SchemaValidationError(msg) from exc
    return buffer.getvalue()


def decode(payload: bytes, expect: str | None = None) -> Decoded:
    """Decode one single-object-encoded event; raise DecodeError for anything else."""
    if not isinstance(payload, bytes | bytearray | memoryview) or len(payload) < HEADER_LEN:
        msg = "payload too short to be a single-object-encoded Avro event"
        raise DecodeError(msg)
    if payload[:2] != MAGIC:
        msg = "payload does not start with the Avro single-object marker C3 01"
        raise DecodeError(msg)
    writer = REGISTRY.by_fingerprint.get(bytes(payload[2:HEADER_LEN]))
    if writer is None:
        msg = f"unknown writer schema fingerprint {bytes(payload[2:HEADER_LEN]).hex()}"
        raise UnknownSchemaError(msg)
    if expect is not None and writer.name != expect:
        msg = f"expected a {expect}, got a {writer.name}"
        raise SchemaValidationError(msg)
    reader = REGISTRY.latest(writer.name)
    # Same schema: no resolution (fastavro would deep-compare the two on every call).
    resolve = None if reader is writer else reader.parsed
    body = io.BytesIO(payload[HEADER_LEN:])
    try:
        record: Record = fastavro.schemaless_reader(body, writer.parsed, resolve)  # type: ignore[assignment]
    except Exception as exc:  # noqa: BLE001 - fastavro raises many types on bad bytes
        msg = f"corrupt {writer.name} body: {exc!r}"
        raise DecodeError(msg) from exc
    if body.tell() != len(payload) - HEADER_LEN:
        msg = f"{len(payload) - HEADER_LEN - body.tell()} trailing bytes after {writer.name}"
        raise DecodeError(msg)
    return Decoded(writer.name, writer.version, record)


def encode_batch(encoded_events: Sequence[bytes]) -> bytes:
    """Pack already-encoded events into one ``EventBatch`` message."""
    return encode(BATCH, {"events": list(encoded_events)})


def split_message(payload: bytes) -> list[bytes]:
    """The encoded events in one Kafka message: the batch's items, or the payload itself."""
    if len(payload) >= HEADER_LEN and payload[2:HEADER_LEN] == _BATCH_FINGERPRINT:
        events: list[bytes] = decode(payload).record["events"]
        return events
    return [payload]


_BATCH_FINGERPRINT = REGISTRY.latest(BATCH).fingerprint
