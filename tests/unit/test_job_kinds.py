"""The kinds of job are listed once; the Avro enum and the database hold the same list."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from sqlalchemy import CheckConstraint

from tonebridge.avro.codec import REGISTRY
from tonebridge.job_kinds import JOB_KINDS, OFFLINE_KINDS, TRAINING_KINDS
from tonebridge.storage.orm import TrainingJobRow
from tonebridge.topics.training import STOP


def enum_symbols(version: int) -> list[str]:
    """The ``kind`` symbols of a TrainingCommand schema file, read from the ``.avsc`` itself."""
    path = REGISTRY.version("TrainingCommand", version).path
    fields = {f["name"]: f for f in json.loads(path.read_text())["fields"]}
    symbols: list[str] = fields["kind"]["type"]["symbols"]
    return symbols


def test_the_kinds_nest_and_each_is_named_once() -> None:
    assert set(OFFLINE_KINDS) < set(TRAINING_KINDS) < set(JOB_KINDS)
    assert len(set(JOB_KINDS)) == len(JOB_KINDS)
    assert set(JOB_KINDS) - set(TRAINING_KINDS) == {"evaluate"}


def test_the_avro_enum_holds_every_job_kind_and_stop() -> None:
    latest = max(REGISTRY.by_name["TrainingCommand"])
    assert sorted(enum_symbols(latest)) == sorted([*JOB_KINDS, STOP])


def test_the_avro_enum_only_grows_at_its_end() -> None:
    # A reader maps symbols by name, but a new symbol anywhere else would reorder the codes.
    versions = sorted(REGISTRY.by_name["TrainingCommand"])
    for older, newer in zip(versions, versions[1:], strict=False):
        before = enum_symbols(older)
        assert enum_symbols(newer)[: len(before)] == before


def test_the_job_table_checks_the_same_kinds() -> None:
    (kind_check,) = (
        c
        for c in TrainingJobRow.__table__.constraints
        if isinstance(c, CheckConstraint) and str(c.sqltext).startswith("kind IN")
    )
    assert sorted(re.findall(r"'([a-z]+)'", str(kind_check.sqltext))) == sorted(JOB_KINDS)


def test_the_api_and_the_policies_read_the_kinds_without_heavy_imports() -> None:
    code = (
        "import sys, tonebridge.api.schemas.training, tonebridge.decisions.retraining, "
        "tonebridge.handlers.methods.registry; "
        "heavy = {'torch', 'transformers', 'trl', 'peft', 'faust'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
