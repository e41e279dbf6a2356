"""A real worker process serves /metrics and /healthz on --metrics-port: its counters move
with what it handles, its lag gauges say it has caught up, and --log-json logs JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.agents.conftest import Streams, eventually
from tests.support.agents import create_test, encoded, feedback, outcome
from tests.support.metrics import (
    PROMETHEUS,
    Exposition,
    free_port,
    health,
    prometheus_scrapes,
    scrape,
)
from tonebridge.topics.abtests import ABTEST_COMMANDS_TOPIC
from tonebridge.topics.feedback import FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC

pytestmark = [pytest.mark.integration, pytest.mark.slow]
POLICIES = """
policies:
  - name: corrections
    kind: min_corrections
    threshold: 40
    training: {kind: sft, base_model: t5-small}
"""
FAMILIES = {
    "tonebridge_worker_messages", "tonebridge_worker_batch_duration_seconds",
    "tonebridge_worker_dead_letters", "tonebridge_worker_verdicts",
    "tonebridge_worker_policy_fires", "tonebridge_worker_consumer_lag",
    "process_cpu_seconds", "process_resident_memory_bytes", "python_info",
}  # fmt: skip


@pytest.mark.parametrize("worker_database_url", ["sqlite"], indirect=True)
async def test_the_worker_serves_metrics_that_follow_its_work(
    streams: Streams, tmp_path: Path
) -> None:
    policies = tmp_path / "policies.yaml"
    policies.write_text(POLICIES)
    await streams.produce(ABTEST_COMMANDS_TOPIC, [create_test("win", min_samples=30)])
    port = free_port()
    process = streams.start_worker(
        "--metrics-port",
        str(port),
        "--log-json",
        RETRAIN_POLICIES_FILE=str(policies),
        RETRAIN_ENABLED="true",  # the fixture's workers run without policies
    )
    await eventually(lambda: _answers(port), "the worker's /healthz", timeout_s=90)
    await eventually(lambda: set(streams.tests.tests()) == {"win"}, "the test known")
    first = await scrape(port)
    assert first is not None and FAMILIES <= set(first.families)

    await streams.produce(INFERENCE_OUTCOMES_TOPIC, _outcomes("win", 300, (0.2, 0.8)))
    corrected = [feedback("tone-a", n=n, corrected="Send it soon, please.") for n in range(50)]
    await streams.produce(FEEDBACK_TOPIC, corrected)
    key, _ = encoded(FEEDBACK_TOPIC, [feedback("tone-a", n=99)])
    await streams.produce_raw(FEEDBACK_TOPIC, key, b"{'rating': 5}")  # not Avro: DecodeError
    await eventually(lambda: _counted(port), lambda: f"counters moved: {_last}", timeout_s=90)

    assert await health(port) == 200
    assert process.poll() is None
    if PROMETHEUS is not None:  # Debian's prometheus, where installed: a real scrape
        assert await prometheus_scrapes(port, tmp_path)
    streams.stop_all()
    _assert_json_lines(tmp_path / "worker.log")


_last: dict[str, object] = {}


async def _answers(port: int) -> bool:
    return await health(port) == 200


async def _counted(port: int) -> bool:
    """Every counter moved, and the lag of each feedback partition came back to 0."""
    found = await scrape(port)
    if found is None:
        return False
    _last.clear()
    _last.update(
        feedback=found.value("tonebridge_worker_messages_total", agent="tally_feedback"),
        outcomes=found.value("tonebridge_worker_messages_total", agent="judge_ab_tests"),
        decode_errors=found.value("tonebridge_worker_dead_letters_total", error="DecodeError"),
        winners=found.value("tonebridge_worker_verdicts_total", decision="winner"),
        fires=found.value("tonebridge_worker_policy_fires_total", policy="corrections"),
        lag=_lags(found),
    )
    return (
        (_last["feedback"] or 0) >= 2  # the EventBatch and the garbage, at least
        and (_last["outcomes"] or 0) >= 1
        and (_last["decode_errors"] or 0) >= 1
        and (_last["winners"] or 0) >= 1
        and (_last["fires"] or 0) >= 1
        and _last["lag"] == [0.0, 0.0, 0.0, 0.0]
    )


def _lags(found: Exposition) -> list[float]:
    """The feedback partitions' lag, by partition (all four: one worker holds them all)."""
    samples = found.matching("tonebridge_worker_consumer_lag", agent="tally_feedback")
    return [s.value for s in sorted(samples, key=lambda s: int(s.labels["partition"]))]


def _outcomes(test_id: str, n: int, rates: tuple[float, float]) -> list[dict[str, object]]:
    return [
        outcome(test_id, arm, n=i, success=(i % 10) < 10 * rate)
        for i in range(n)
        for arm, rate in (("control", rates[0]), ("treatment", rates[1]))
    ]


def _assert_json_lines(log: Path) -> None:
    """Log records are JSON objects; none is in faust's text format (``[time] [pid] ...``)."""
    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert records and not [line for line in lines if line.startswith("[20")]
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
