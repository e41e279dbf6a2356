from __future__ import annotations

from datetime import UTC, datetime

from tonebridge.avro.codec import decode, encode
from tonebridge.handlers.datasets.formats import Lineage
from tonebridge.handlers.trainer.events import (
    model_changed,
    model_registered,
    numeric_metrics,
    training_status,
)


def test_status_keeps_progress_fields_and_fits_its_schema() -> None:
    record = training_status(
        "job", "cmd", "running", step=3, total_steps=10, loss=0.5, eta_seconds=None, junk=1
    )
    back = decode(encode("TrainingStatus", record)).record
    assert (back["step"], back["total_steps"], back["loss"]) == (3, 10, 0.5)
    assert back["eta_seconds"] is None
    assert "junk" not in record


def test_only_finite_numbers_reach_a_metrics_map() -> None:
    metrics = {"a": 1, "b": 2.5, "c": float("nan"), "d": "x", "e": True, "f": float("inf")}
    assert numeric_metrics(metrics) == {"a": 1.0, "b": 2.5}


def test_registered_carries_the_feedback_range() -> None:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC)
    record = model_registered(
        model_id="m",
        name="tone",
        version="3",
        base_model="tiny",
        model_type="tone_adjustment",
        job_id="j",
        artifact_uri="file:///a",
        dataset_id="d",
        lineage=Lineage(start, end, 42),
        metrics={"chrf": 51.0},
        mlflow_run_id="r",
    )
    back = decode(encode("ModelRegistered", record)).record
    assert (back["feedback_from"], back["feedback_to"], back["feedback_count"]) == (start, end, 42)
    assert back["metrics"] == {"chrf": 51.0}


def test_changed_fits_its_schema() -> None:
    record = model_changed(
        model_id="m",
        name="tone",
        version="2",
        change="rolled_back",
        artifact_uri="u",
        base_model="b",
    )
    assert decode(encode("ModelChanged", record)).record["change"] == "rolled_back"
