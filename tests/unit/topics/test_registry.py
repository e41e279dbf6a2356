from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastavro.validation import validate

from tonebridge.avro.codec import BATCH, REGISTRY, Record, decode, encode
from tonebridge.errors import DecodeError
from tonebridge.settings import load_settings
from tonebridge.topics.abtests import (
    AB_TEST_COMMAND,
    AB_TEST_VERDICT,
    abtest_command,
    abtest_verdict,
)
from tonebridge.topics.deadletter import DEAD_LETTER, dead_letter
from tonebridge.topics.feedback import FEEDBACK_EVENT, feedback_event
from tonebridge.topics.inference import INFERENCE_OUTCOME, inference_outcome
from tonebridge.topics.models import (
    MODEL_CHANGED,
    MODEL_COMMAND,
    MODEL_REGISTERED,
    model_changed,
    model_command,
    model_registered,
)
from tonebridge.topics.registry import ALL_TOPICS, COPARTITIONED, by_name
from tonebridge.topics.training import (
    PROGRESS,
    TRAINING_COMMAND,
    TRAINING_STATUS,
    training_command,
    training_status,
)


def test_topic_names_are_unique_and_versioned() -> None:
    bases = [spec.base for spec in ALL_TOPICS]
    assert len(set(bases)) == len(bases) == 10
    assert all(base.startswith("tonebridge.") and base.endswith(".v1") for base in bases)


def test_every_event_type_has_a_topic_and_every_topic_a_known_schema() -> None:
    carried = {schema for spec in ALL_TOPICS for schema in spec.schemas}
    assert carried == set(REGISTRY.by_name) - {BATCH}


@pytest.mark.parametrize("partitions", [1, 4, 12])
def test_copartitioned_topics_keep_equal_partition_counts(partitions: int) -> None:
    settings = load_settings(kafka_topic_partitions=partitions)
    for left, right in COPARTITIONED:
        assert left.partition_count(settings) == right.partition_count(settings)


def test_by_name_finds_a_spec_under_the_prefix() -> None:
    settings = load_settings(kafka_topic_prefix="p.")
    assert by_name(settings, "p.tonebridge.feedback.v1").base == "tonebridge.feedback.v1"
    with pytest.raises(KeyError):
        by_name(settings, "tonebridge.feedback.v1")


# Every builder, called with its required arguments only and with every optional one set
# (to a value other than its default). A builder that drifts from its .avsc fails here.
AT = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
HEADER = {"event_id": "e-1", "event_time": AT}
ARM = {"arm_id": "a", "model_id": "m1", "weight": 0.5}
METRIC = {"name": "success", "kind": "binary", "higher_is_better": True, "guardrail": False}
Build = Callable[..., Record]
CASES: dict[str, tuple[Build, dict[str, Any], dict[str, Any]]] = {
    FEEDBACK_EVENT: (
        feedback_event,
        {"user_id": "u", "model_id": "m", "input_text": "i", "output_text": "o",
         "transformation_type": "formal"},
        {"rating": 4, "corrected_text": "c", "session_id": "s", "metadata": {"app": "ios"},
         "feedback_type": "both", **HEADER},
    ),
    INFERENCE_OUTCOME: (
        inference_outcome,
        {"request_id": "r", "model_id": "m"},
        {"ab_test_id": "t", "arm_id": "a", "transformation_type": "formal", "success": True,
         "metrics": {"latency_ms": 12.5}, **HEADER},
    ),
    DEAD_LETTER: (
        dead_letter,
        {"topic": "t", "partition": 1, "offset": 2, "key": None, "payload": b"p",
         "error": DecodeError("bad")},
        {"key": b"k", "reason": "why", **HEADER},
    ),
    TRAINING_COMMAND: (
        training_command,
        {"command_id": "c", "kind": "sft", "requested_by": "api:a"},
        {"job_id": "j", "model_id": "m", "baseline_model_id": "b", "base_model": "tiny",
         "model_type": "style", "dataset_id": "d", "feedback_since": AT,
         "config": {"max_steps": 3}, "reason": "r", **HEADER},
    ),
    TRAINING_STATUS: (
        training_status,
        {"job_id": "j", "command_id": "c", "status": "running"},
        {"message": "m", "metrics": {"loss": 0.5}, "step": 3, "total_steps": 10, "epoch": 0.5,
         "progress": 0.3, "loss": 0.7, "learning_rate": 1e-4, "eta_seconds": 9.0, **HEADER},
    ),
    MODEL_COMMAND: (
        model_command,
        {"command_id": "c", "action": "deploy", "model_id": "m", "requested_by": "api:a"},
        {"reason": "r", **HEADER},
    ),
    MODEL_REGISTERED: (
        model_registered,
        {"model_id": "m", "name": "n", "version": "1", "base_model": "tiny",
         "model_type": "tone_adjustment", "job_id": "j", "artifact_uri": "u"},
        {"dataset_id": "d", "feedback_from": AT, "feedback_to": AT, "feedback_count": 7,
         "metrics": {"chrf": 51.0}, "mlflow_run_id": "r", **HEADER},
    ),
    MODEL_CHANGED: (
        model_changed,
        {"model_id": "m", "name": "n", "version": "1", "change": "deployed",
         "artifact_uri": "u"},
        {"base_model": "tiny", "previous_model_id": "p", "reason": "r", "alias": "staging",
         **HEADER},
    ),
    AB_TEST_COMMAND: (
        abtest_command,
        {"test_id": "t", "action": "stop"},
        {"name": "n", "arms": [ARM, ARM | {"arm_id": "b"}], "metrics": [METRIC], "alpha": 0.01,
         "min_samples": 50, "control_arm": "a", "reason": "r", "max_samples": 500,
         "max_duration_seconds": 3600, "idle_timeout_seconds": 600, "expected_samples": 400,
         "covariate": "prior_rating", **HEADER},
    ),
    AB_TEST_VERDICT: (
        abtest_verdict,
        {"test_id": "t", "decision": "stopped"},
        {"winner_arm": "b", "winner_model_id": "m2", "metric": "success", "effect": 0.1,
         "ci_low": 0.05, "ci_high": 0.15, "p_values": {"b": 0.01}, "samples": {"a": 9, "b": 8},
         "results_json": '{"n": 17}', "reason": "r", **HEADER},
    ),
}  # fmt: skip


def test_every_record_type_on_a_topic_has_a_builder_case() -> None:
    carried = {schema for spec in ALL_TOPICS for schema in spec.schemas}
    assert set(CASES) == carried


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_full_case_sets_every_optional_argument(name: str) -> None:
    build, required, optional = CASES[name]
    parameters = inspect.signature(build).parameters.values()
    named = {p.name for p in parameters if p.kind is not p.VAR_KEYWORD}
    assert named == set(required) | (set(optional) & named)
    if name == TRAINING_STATUS:  # its progress fields arrive as **progress
        assert set(PROGRESS) <= set(optional)


@pytest.mark.parametrize("full", [False, True], ids=["optional unset", "optional set"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_builder_fits_its_schema(name: str, full: bool) -> None:
    build, required, optional = CASES[name]
    record = build(**(required | optional if full else required))
    schema = REGISTRY.latest(name).parsed
    assert set(record) == {f["name"] for f in schema["fields"]}
    assert validate(record, schema, raise_errors=True)
    assert decode(encode(name, record), expect=name).record == record
