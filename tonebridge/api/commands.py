"""Command records the API puts on Kafka, and their deterministic ids.

A command id is derived from the caller and its ``Idempotency-Key`` when one is sent, so a
retried request names the same command (and the same job) even if the stored response was
lost; consumers treat a command id they have seen as a no-op. Without a key it is a new UUID.
A job started through the API has the id of its command (``job_id == command_id``), and the
command carries it in ``job_id`` so the trainer creates (or finds) that very job.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tonebridge.api.auth import Principal
from tonebridge.avro.codec import Record

_NAMESPACE = uuid.UUID("8f6f1b8e-3f0c-4b55-9a7e-6b1b1c2f5d10")


def command_id_for(principal: Principal, idempotency_key: str | None, purpose: str) -> str:
    """Same caller + same key + same purpose -> same id; no key -> a fresh UUID."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_NAMESPACE, f"{principal.key_id}\n{purpose}\n{idempotency_key}"))


def requested_by(principal: Principal) -> str:
    return f"api:{principal.key_id}"


def _header() -> Record:
    return {"event_id": str(uuid.uuid4()), "event_time": datetime.now(UTC)}


def training_command(
    command_id: str,
    kind: str,
    principal: Principal,
    *,
    job_id: str | None = None,
    model_id: str | None = None,
    baseline_model_id: str | None = None,
    base_model: str | None = None,
    model_type: str = "tone_adjustment",
    dataset_id: str | None = None,
    feedback_since: datetime | None = None,
    config: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> Record:
    return {
        **_header(),
        "command_id": command_id,
        "kind": kind,
        "job_id": job_id,
        "model_id": model_id,
        "baseline_model_id": baseline_model_id,
        "base_model": base_model,
        "model_type": model_type,
        "dataset_id": dataset_id,
        "feedback_since": feedback_since,
        "config_json": json.dumps(config or {}, sort_keys=True),
        "requested_by": requested_by(principal),
        "reason": reason,
    }


def model_command(
    command_id: str, action: str, model_id: str, principal: Principal, reason: str | None
) -> Record:
    return {
        **_header(),
        "command_id": command_id,
        "action": action,
        "model_id": model_id,
        "requested_by": requested_by(principal),
        "reason": reason,
    }


def ab_test_command(test_id: str, action: str, **fields: Any) -> Record:
    """An ABTestCommand; ``fields`` are the create options (name, arms, metrics, ...)."""
    return {**_header(), "test_id": test_id, "action": action, **fields}
