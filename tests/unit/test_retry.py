"""Which failures are retried, and that retries are bounded (or not) and jittered."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError, UnknownTopicOrPartitionError

from tonebridge.errors import (
    ConflictError,
    DataRefusedError,
    IntegrityError,
    InvalidEventError,
    StoreError,
    StoreUnavailableError,
)
from tonebridge.retry import Backoff, is_transient, retrying

QUICK = Backoff(base_s=0.001, cap_s=0.002, attempts=3)


class MlflowException(Exception):  # noqa: N818 - named as MLflow names it
    """Told apart by name, as MLflow is imported only where it is used."""

    def __init__(self, error_code: str) -> None:
        super().__init__(error_code)
        self.error_code = error_code


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (OSError("raw driver failure"), True),
        (TimeoutError(), True),
        (StoreUnavailableError("database unavailable"), True),
        (StoreError("database error: could not serialize access"), True),
        (DataRefusedError("value too long for type character varying(64)"), False),
        (IntegrityError("constraint violated"), False),
        (ConflictError("archived"), False),
        (InvalidEventError("model_type is too long"), False),
        (KafkaConnectionError(), True),
        (UnknownTopicOrPartitionError(), True),
        (MlflowException("TEMPORARILY_UNAVAILABLE"), True),
        (MlflowException("RESOURCE_DOES_NOT_EXIST"), False),
        (ValueError("Exceeds the limit (4300 digits)"), False),
        (TypeError("a bug"), False),
    ],
)
def test_transient_failures_are_told_from_permanent_ones(
    error: BaseException, transient: bool
) -> None:
    assert is_transient(error) is transient


def test_pauses_grow_to_the_cap_with_jitter() -> None:
    backoff = Backoff(base_s=1.0, cap_s=8.0, attempts=None)
    pauses = [backoff.pause(attempt) for attempt in range(200) for _ in range(3)]
    assert all(0 <= p <= 8.0 for p in pauses)
    assert len(set(pauses)) > 100  # jittered, not a fixed schedule
    assert max(backoff.pause(0) for _ in range(50)) <= 1.0
    assert not backoff.gives_up(10_000)


async def test_a_transient_failure_is_retried_until_it_passes() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError(111, "refused")
        return "done"

    assert await retrying(flaky, "flaky", QUICK) == "done"
    assert len(calls) == 3


async def test_retries_stop_at_the_bound_and_permanent_failures_at_once() -> None:
    calls: list[BaseException] = []

    async def failing(error: BaseException) -> None:
        calls.append(error)
        raise error

    with pytest.raises(OSError):
        await retrying(lambda: failing(OSError("down")), "down", QUICK)
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ConflictError):
        await retrying(lambda: failing(ConflictError("no")), "refused", QUICK)
    assert len(calls) == 1
