"""Golden bytes: a fixed record per schema version encodes to exactly these bytes.

A published ``.avsc`` never changes; a change is a new version file, which needs its own
entries below. An accidental edit fails here: a renamed field, a new type or a reordered union
changes the fingerprint or the body; a changed default, alias or logical type (which the
fingerprint ignores) changes the schema digest. Only ``doc`` may be edited in place.
"""

from __future__ import annotations

import hashlib
import io
import json

import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from tests.support.samples import sample
from tonebridge.avro.codec import HEADER_LEN, MAGIC, REGISTRY, decode, encode

GOLDEN: dict[tuple[str, int], tuple[str, ...]] = {
    ("ABTestCommand", 1): (
        "c301432a8e1ac2c948ca0a6162632d308eea9fd3b2650861622d3000021e666f726d616c20763320"
        "7673207632040e636f6e74726f6c1a746f6e652d666f726d616c3a32000000000000e03f12747265"
        "61746d656e741a746f6e652d666f726d616c3a33000000000000e03f00040e737563636573730001"
        "00146c6174656e63795f6d73020001009a9999999999a93f9003020e636f6e74726f6c022c6e6577"
        "2076657273696f6e2072656769737465726564"
    ),
    ("ABTestCommand", 2): (
        "c3019a8854e6c0b7cda80a6162632d308eea9fd3b2650861622d3000021e666f726d616c20763320"
        "7673207632040e636f6e74726f6c1a746f6e652d666f726d616c3a32000000000000e03f12747265"
        "61746d656e741a746f6e652d666f726d616c3a33000000000000e03f00040e737563636573730001"
        "00146c6174656e63795f6d73020001009a9999999999a93f9003020e636f6e74726f6c022c6e6577"
        "2076657273696f6e20726567697374657265640000000000"
    ),
    ("ABTestVerdict", 1): (
        "c301dd2c253e4b569e8b0a6162762d308eea9fd3b2650861622d3000021274726561746d656e7402"
        "1a746f6e652d666f726d616c3a33020e73756363657373021b2fdd240681a53f027b14ae47e17a84"
        "3f02ec51b81e85ebb13f020e73756363657373fa7e6abc7493683f00040e636f6e74726f6c805012"
        "74726561746d656e74a64f00307b2273756363657373223a207b227a223a20322e39377d7d00"
    ),
    ("ABTestVerdict", 2): (
        "c3018f31b24f01c1ce780a6162762d308eea9fd3b2650861622d3000021274726561746d656e7402"
        "1a746f6e652d666f726d616c3a33020e73756363657373021b2fdd240681a53f027b14ae47e17a84"
        "3f02ec51b81e85ebb13f020e73756363657373fa7e6abc7493683f00040e636f6e74726f6c805012"
        "74726561746d656e74a64f00307b2273756363657373223a207b227a223a20322e39377d7d00"
    ),
    ("DeadLetter", 1): (
        "c30139016c7de50c812608646c2d308eea9fd3b2652c746f6e656272696467652e66656564626163"
        "6b2e76310480897a164465636f64654572726f727e7061796c6f616420646f6573206e6f74207374"
        "617274207769746820746865204176726f2073696e676c652d6f626a656374206d61726b65722043"
        "33203031021a746f6e652d666f726d616c2d3112006e6f74206176726f"
    ),
    ("EventBatch", 1): ("c30172ee9005ce2045f5020ec301666972737400",),
    ("FeedbackEvent", 1): (
        "c3010e7468b53d8af9130866622d308eea9fd3b2650c757365722d30021273657373696f6e2d311a"
        "746f6e652d666f726d616c2d301873656e64206974206173617052436f756c6420796f752073656e"
        "64206974207768656e20796f7520686176652061206d6f6d656e743f023e436f756c6420796f7520"
        "73656e6420697420736f6f6e2c20706c656173653f0c666f726d616c020208626f74680406617070"
        "06696f730c6c6f63616c650a656e2d474200"
    ),
    ("InferenceOutcome", 1): (
        "c301a328235ad6878b9408696f2d308eea9fd3b2650a7265712d301a746f6e652d666f726d616c2d"
        "3000021274726561746d656e74020c666f726d616c0201040c726174696e67000000000000104014"
        "6c6174656e63795f6d73000000000064894000"
    ),
    ("ModelChanged", 1): (
        "c30145c37ccf79dff629086d632d308eea9fd3b2651a746f6e652d666f726d616c3a3116746f6e65"
        "2d666f726d616c0231001470726f64756374696f6e021a746f6e652d666f726d616c3a30526d6c66"
        "6c6f772d6172746966616374733a2f312f6162632f6172746966616374732f616461707465722673"
        "73686c65696665722f74696e792d677074320218776f6e20412f422074657374"
    ),
    ("ModelCommand", 1): (
        "c3015b37ff5b42a8924c0c6d636d642d308eea9fd3b2650c6d636d642d30021a746f6e652d666f72"
        "6d616c3a31206162746573743a67756172647261696c02226c6174656e6379206775617264726169"
        "6c"
    ),
    ("ModelRegistered", 1): (
        "c30161255b803ed8e36f086d722d308eea9fd3b2651a746f6e652d666f726d616c3a3116746f6e65"
        "2d666f726d616c0231267373686c65696665722f74696e792d677074321e746f6e655f61646a7573"
        "746d656e740a6a6f622d30020864732d37028eea9fd3b265028eea9fd3b265e01202126576616c5f"
        "6c6f7373cdccccccccccec3f00526d6c666c6f772d6172746966616374733a2f312f6162632f6172"
        "746966616374732f616461707465720206616263"
    ),
    ("TrainingCommand", 1): (
        "c30176466bfbe21577d70874632d308eea9fd3b2650a636d642d300400021a746f6e652d666f726d"
        "616c2d31021a746f6e652d666f726d616c2d3002267373686c65696665722f74696e792d67707432"
        "1e746f6e655f61646a7573746d656e74020864732d37028eea9fd3b2651a7b2262657461223a2030"
        "2e317d22706f6c6963793a6c6f772d726174696e6702346d65616e20726174696e672066656c6c20"
        "62656c6f7720332e35"
    ),
    ("TrainingCommand", 2): (
        "c301a3481c4436a083ea0874632d308eea9fd3b2650a636d642d300400021a746f6e652d666f726d"
        "616c2d31021a746f6e652d666f726d616c2d3002267373686c65696665722f74696e792d67707432"
        "1e746f6e655f61646a7573746d656e74020864732d37028eea9fd3b2651a7b2262657461223a2030"
        "2e317d22706f6c6963793a6c6f772d726174696e6702346d65616e20726174696e672066656c6c20"
        "62656c6f7720332e35"
    ),
    ("TrainingStatus", 1): (
        "c301c8545a5868f550ba0873742d308eea9fd3b2650a6a6f622d300a636d642d3002185033333333"
        "3333d33f333333333333d33f02000000000000f43f022d431cebe2360a3f020000000000804e4002"
        "10747261696e696e67021e7265776172645f6163637572616379000000000000e83f00"
    ),
}

# sha256 of the schema file's JSON without "doc" attributes, sorted keys; first 16 hex digits.
SCHEMA_DIGESTS: dict[tuple[str, int], str] = {
    ("ABTestCommand", 1): "495bf6080cde7b2a",
    ("ABTestCommand", 2): "61f61fd7e5baa0ec",
    ("ABTestVerdict", 1): "2018cb44f10a6d23",
    ("ABTestVerdict", 2): "874166c4a7912fe6",
    ("DeadLetter", 1): "ad6adfad1c98c8d6",
    ("EventBatch", 1): "cf61e7d7d40fc501",
    ("FeedbackEvent", 1): "512f56f6abcb691d",
    ("InferenceOutcome", 1): "57721f1501529518",
    ("ModelChanged", 1): "ee614fbdba6f9fc5",
    ("ModelCommand", 1): "6c62aa9b74d8652f",
    ("ModelRegistered", 1): "9dcc43ac9a000906",
    ("TrainingCommand", 1): "06fb901a5ddfd849",
    ("TrainingCommand", 2): "ba88697d95c4d248",
    ("TrainingStatus", 1): "a5794c4d2167f6a9",
}

VERSIONS = sorted((name, v) for name, versions in REGISTRY.by_name.items() for v in versions)


def golden(name: str, version: int) -> bytes:
    return bytes.fromhex("".join(GOLDEN[name, version]))


def test_every_schema_version_has_golden_bytes_and_digest() -> None:
    assert sorted(GOLDEN) == VERSIONS
    assert sorted(SCHEMA_DIGESTS) == VERSIONS


def without_docs(schema: object) -> object:
    if isinstance(schema, dict):
        return {k: without_docs(v) for k, v in schema.items() if k != "doc"}
    if isinstance(schema, list):
        return [without_docs(v) for v in schema]
    return schema


@pytest.mark.parametrize(("name", "version"), VERSIONS)
def test_published_schema_is_unchanged(name: str, version: int) -> None:
    text = REGISTRY.version(name, version).path.read_text()
    canonical = json.dumps(without_docs(json.loads(text)), sort_keys=True)
    assert hashlib.sha256(canonical.encode()).hexdigest()[:16] == SCHEMA_DIGESTS[name, version]


@pytest.mark.parametrize(("name", "version"), VERSIONS)
def test_encoding_matches_golden_bytes(name: str, version: int) -> None:
    assert encode(name, sample(name), version=version).hex() == golden(name, version).hex()


@pytest.mark.parametrize(("name", "version"), VERSIONS)
def test_golden_header_is_the_avro_fingerprint(name: str, version: int) -> None:
    # fastavro's own CRC-64-AVRO, independent of the codec's implementation.
    schema = REGISTRY.version(name, version).parsed
    expected = fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO")
    payload = golden(name, version)
    assert payload[:2] == MAGIC
    assert payload[2:HEADER_LEN].hex() == expected


@pytest.mark.parametrize(("name", "version"), VERSIONS)
def test_golden_bytes_decode_to_the_record(name: str, version: int) -> None:
    payload = golden(name, version)
    plain = fastavro.schemaless_reader(
        io.BytesIO(payload[HEADER_LEN:]), REGISTRY.version(name, version).parsed, None
    )
    fields = {field["name"] for field in REGISTRY.version(name, version).parsed["fields"]}
    assert plain == {k: v for k, v in sample(name).items() if k in fields}
    decoded = decode(payload)  # read as the latest version: later fields take their defaults
    assert (decoded.name, decoded.writer_version) == (name, version)
    assert decoded.record == sample(name)
