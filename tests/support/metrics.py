"""Scrape a process's ``/metrics`` and ``/healthz`` as Prometheus would, and read the samples.

The exposition is parsed by prometheus_client's own parser; with Debian's ``prometheus``
binary on PATH, :func:`prometheus_scrapes` also has a real Prometheus scrape the target.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def free_port() -> int:
    """A port free on 127.0.0.1 now (the process under test binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Exposition:
    """One scrape: the families by name and every sample."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples = [s for family in self.families.values() for s in family.samples]

    def value(self, name: str, **labels: str) -> float | None:
        """The sample ``name`` whose labels include ``labels``: its value, or None."""
        found = self.matching(name, **labels)
        return found[0].value if len(found) == 1 else None

    def matching(self, name: str, **labels: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name and labels.items() <= s.labels.items()]


async def scrape(port: int) -> Exposition | None:
    """``/metrics`` of the process on ``port``, or None while it does not answer."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            reply = await client.get(f"http://127.0.0.1:{port}/metrics")
    except httpx.TransportError:
        return None
    reply.raise_for_status()
    return Exposition(reply.text)


async def health(port: int) -> int | None:
    """The status ``/healthz`` answers, or None while nothing listens."""
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code
    except httpx.TransportError:
        return None


PROMETHEUS = shutil.which("prometheus")


async def prometheus_scrapes(port: int, workdir: Path, timeout_s: float = 60.0) -> bool:
    """A real Prometheus scrapes ``127.0.0.1:port``: its ``up`` for the target becomes 1."""
    assert PROMETHEUS is not None
    config = workdir / "prometheus.yml"
    target = {"targets": [f"127.0.0.1:{port}"]}
    scrape_config = {"job_name": "tonebridge", "static_configs": [target]}
    settings = {"global": {"scrape_interval": "1s"}, "scrape_configs": [scrape_config]}
    config.write_text(yaml.safe_dump(settings))
    api = free_port()
    with _running_prometheus(config, workdir / "prometheus-data", api, workdir / "prometheus.log"):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await _up(api) == 1.0:
                return True
            await asyncio.sleep(0.5)
    return False


@contextmanager
def _running_prometheus(config: Path, data: Path, port: int, log: Path) -> Iterator[None]:
    args = [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        process.terminate()
        process.wait(30)


async def _up(port: int) -> float | None:
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            reply = await client.get(
                f"http://127.0.0.1:{port}/api/v1/query", params={"query": "up"}
            )
    except httpx.TransportError:
        return None
    result: list[Mapping[str, object]] = json.loads(reply.text).get("data", {}).get("result", [])
    values = [float(r["value"][1]) for r in result]  # type: ignore[index]
    return max(values) if values else None
