"""Avro single-object encoding (Avro spec, "Single-object encoding").

A payload is ``C3 01`` + the 8-byte little-endian CRC-64-AVRO fingerprint of the writer
schema's parsing canonical form + the Avro binary body. A reader looks the writer schema up
by fingerprint and resolves it against the newest version it knows of the same event, so old
and new writers both decode (schema evolution).

Several events may travel in one Kafka message as an ``EventBatch`` whose items are each a
single-object-encoded event; :func:`split_message` accepts both forms. Reading a message is
:class:`tonebridge.topics.spec.TopicSpec`'s job: it knows which events its topic carries.
:func:`decode_many` reads a batch's events of one type in one call (the agents' hot path), and
gives up, for :func:`decode` to read each one, on anything else. Read for the agents' folds
(``millis``), the batch goes through cavro's decoder, about twice as fast as fastavro's on these
events; it gives the records fastavro gives, or nothing (then fastavro reads them).

Every schema under ``tonebridge/avro/<family>/<event>.v<N>.avsc`` is parsed at import, so a
broken schema fails at import (and test collection), not in production.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
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


# Between the events of a batch decoded at once: bytes no producer knows (drawn per process).
_SEAL = os.urandom(8)
_SEAL_FIELD = "__tonebridge_seal"


@functools.lru_cache(maxsize=64)
def _sealed_array(fingerprint: bytes, millis: bool = False) -> Any:
    """An array of the records of a schema, each followed by a seal (an extra fixed field);
    with ``millis``, read for the folds (:func:`_plain_longs`)."""
    raw = json.loads(_path(fingerprint).read_text())
    items = _sealed(_plain_longs(raw) if millis else raw)
    return fastavro.parse_schema({"type": "array", "items": items}, named_schemas={})


@functools.lru_cache(maxsize=64)
def _millis_reader(fingerprint: bytes) -> Callable[[bytes], list[Record]]:
    """What reads :func:`_sealed_array` (``millis``) of a schema: cavro's decoder where it is
    installed (the worker's), else fastavro's; each ``int`` read whole (:func:`_plain_longs`)."""
    try:
        import cavro  # noqa: PLC0415 - the worker's extra; the SDK reads with fastavro
    except ImportError:
        return _fastavro_reader(fingerprint, millis=True)
    raw = _sealed(_plain_longs(json.loads(_path(fingerprint).read_text())))
    options = cavro.Options(record_decodes_to_dict=True, logical_types=())
    return cavro.Schema({"type": "array", "items": raw}, options=options).binary_decode  # type: ignore[no-any-return]


def _path(fingerprint: bytes) -> Path:
    return REGISTRY.by_fingerprint[fingerprint].path


def _sealed(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (a parsed JSON schema) with the seal as its last field."""
    seal = {"name": _SEAL_FIELD, "type": {"type": "fixed", "name": "TonebridgeSeal", "size": 8}}
    return record | {"fields": [*record["fields"], seal]}


def _plain_longs(schema: Any) -> Any:
    """``schema`` (parsed JSON) with each ``timestamp-millis`` long and each ``int`` a plain
    long: the same bytes, read as epoch milliseconds instead of a datetime, and whole (cavro
    keeps an int's low 32 bits; fastavro reads an int whole either way)."""
    if schema == "int":
        return "long"
    if isinstance(schema, list):
        return [_plain_longs(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("type") == "long" and schema.get("logicalType") == "timestamp-millis":
        return "long"
    return {key: _plain_longs(value) for key, value in schema.items()}


def _varint(value: int) -> bytes:
    """Avro's zig-zag varint of a non-negative ``value`` (an array's item count)."""
    value <<= 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_many(
    payloads: Sequence[bytes], *, millis: bool = False
) -> tuple[SchemaVersion, list[Record]] | None:
    """The records of ``payloads`` if they share the newest version of one schema, read in one
    call; None if they cannot be read so (then :func:`decode` each one).

    With ``millis``, a ``timestamp-millis`` field is read as its epoch milliseconds (an int:
    for the agents' folds, which want milliseconds), by cavro (:func:`_millis_reader`). Such a
    record is not what :func:`decode` gives: a value that no datetime holds is read without
    error, and its reader must judge it (or read the message again). Where cavro refuses the
    bytes (it reads a little less than fastavro: a negative map block count, a negative union
    branch), this is None, and the message is read again with fastavro.

    The bodies are read as one Avro array whose items each end with a seal that no producer
    knows, and every item's seal must be read where its body ends: a body that is short, long
    or corrupt misplaces a seal or fails the read, so the records are exactly what
    :func:`decode` would give one by one.
    """
    header = payloads[0][:HEADER_LEN] if payloads else b""
    writer = REGISTRY.by_fingerprint.get(bytes(header[2:]))
    if writer is None or header[:2] != MAGIC or REGISTRY.latest(writer.name) is not writer:
        return None
    if any(p[:HEADER_LEN] != header for p in payloads):
        return None
    bodies = _SEAL.join([p[HEADER_LEN:] for p in payloads])
    data = b"".join((_varint(len(payloads)), bodies, _SEAL, b"\x00"))
    # outside the try: a bug here is not bad input
    read = _millis_reader(writer.fingerprint) if millis else _fastavro_reader(writer.fingerprint)
    try:
        records = read(data)
    except Exception:  # noqa: BLE001 - a bad body: decode() tells which one and why
        return None
    seals = [record.pop(_SEAL_FIELD) for record in records]
    if seals.count(_SEAL) != len(payloads):
        return None
    return writer, records


@functools.lru_cache(maxsize=64)
def _fastavro_reader(fingerprint: bytes, millis: bool = False) -> Callable[[bytes], list[Record]]:
    """Reads :func:`_sealed_array` of a schema with fastavro, raising unless it reads all."""
    schema = _sealed_array(fingerprint, millis)

    def read(data: bytes) -> list[Record]:
        body = io.BytesIO(data)
        records: list[Record] = fastavro.schemaless_reader(body, schema, None)  # type: ignore[assignment]
        if body.tell() != len(data):
            msg = f"{len(data) - body.tell()} bytes after the batch"
            raise DecodeError(msg)
        return records

    return read


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
