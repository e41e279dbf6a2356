"""The deterministic ids of the commands the API puts on Kafka, and who asked for them.

A command id is derived from the caller and its ``Idempotency-Key`` when one is sent, so a
retried request names the same command (and the same job) even if the stored response was
lost; consumers treat a command id they have seen as a no-op. Without a key it is a new UUID.
A job started through the API has the id of its command (``job_id == command_id``), and the
command carries it in ``job_id`` so the trainer creates (or finds) that very job.
"""

from __future__ import annotations

import uuid

from tonebridge.api.auth import Principal

_NAMESPACE = uuid.UUID("8f6f1b8e-3f0c-4b55-9a7e-6b1b1c2f5d10")


def command_id_for(principal: Principal, idempotency_key: str | None, purpose: str) -> str:
    """Same caller + same key + same purpose -> same id; no key -> a fresh UUID."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_NAMESPACE, f"{principal.key_id}\n{purpose}\n{idempotency_key}"))


def requested_by(principal: Principal) -> str:
    """The ``requested_by`` of a command sent on behalf of ``principal``."""
    return f"api:{principal.key_id}"
