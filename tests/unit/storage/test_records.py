"""What a model row says about where its weights are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tonebridge.storage.records import ModelRecord


def row(**fields: Any) -> ModelRecord:
    values: dict[str, Any] = {
        "id": "m1", "training_job_id": None, "name": "tone", "version": "base",
        "model_type": "tone_adjustment", "base_model": "org/base", "path": "org/base",
        "metrics": {}, "status": "draft", "mlflow_run_id": None, "lineage": {},
        "deployed_at": None, "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    }  # fmt: skip
    return ModelRecord(**(values | fields))


@pytest.mark.parametrize(
    ("fields", "adapter"),
    [
        ({}, None),  # a base model
        ({"lineage": {"registered": "base"}}, None),
        (
            {"path": "mlflow-artifacts:/1/r/adapter", "mlflow_run_id": "r"},
            "mlflow-artifacts:/1/r/adapter",
        ),
        ({"path": "adapters/ext", "lineage": {"registered": "adapter"}}, "adapters/ext"),
    ],
)
def test_the_adapter_of_a_version(fields: dict[str, Any], adapter: str | None) -> None:
    assert row(**fields).adapter == adapter
