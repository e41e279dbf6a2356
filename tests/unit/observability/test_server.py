"""The metrics server: /metrics in the exposition format, /healthz from the heartbeat."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import Counter
from prometheus_client.parser import text_string_to_metric_families

from tonebridge.errors import ConfigError
from tonebridge.observability.server import Heartbeat, process_registry, serve, stop


@pytest.fixture
def heartbeat() -> Heartbeat:
    return Heartbeat()


@pytest.fixture
def base_url(heartbeat: Heartbeat) -> Iterator[str]:
    registry = process_registry()
    Counter("tonebridge_test_things", "Things.", registry=registry).inc(3)
    server = serve(registry, "127.0.0.1", 0, heartbeat.alive)  # 0: any free port
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        stop(server)


def test_metrics_are_the_registry_and_the_process_collectors(base_url: str) -> None:
    reply = httpx.get(f"{base_url}/metrics")
    assert reply.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(reply.text)}
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"} <= set(families)
    assert [
        s.value for s in families["tonebridge_test_things"].samples if s.name.endswith("_total")
    ] == [3.0]


def test_healthz_answers_while_the_loop_beats(base_url: str, heartbeat: Heartbeat) -> None:
    assert httpx.get(f"{base_url}/healthz").status_code == 200
    heartbeat.stale_s = 0  # no beat is recent enough any more: the loop counts as stalled
    reply = httpx.get(f"{base_url}/healthz")
    assert (reply.status_code, reply.json()) == (503, {"status": "stalled"})


def test_a_port_taken_is_a_config_error(base_url: str) -> None:
    taken = int(base_url.rsplit(":", 1)[1])
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        serve(process_registry(), "127.0.0.1", taken, Heartbeat().alive)


def test_other_paths_are_not_found(base_url: str) -> None:
    assert httpx.get(f"{base_url}/").status_code == 404
