"""deploy/grafana/tonebridge.json: it parses, and every metric it queries is one the worker,
the trainer or the API exposes (a renamed metric would leave a panel silently empty)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tonebridge.agents.runtime.metrics import WorkerMetrics
from tonebridge.api.metrics import ApiMetrics
from tonebridge.handlers.trainer.metrics import TrainerMetrics

DASHBOARD = Path(__file__).parents[3] / "deploy" / "grafana" / "tonebridge.json"
METRIC = re.compile(r"\b(?:tonebridge|process|python)_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def exposed() -> set[str]:
    """The series names the three processes' registries expose, labelled ones included."""
    registries = (WorkerMetrics().registry, TrainerMetrics().registry, ApiMetrics().registry)
    names: set[str] = set()
    for registry in registries:
        for family in text_string_to_metric_families(generate_latest(registry).decode()):
            names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


def expressions() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_panel_queries_something() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = [panel["title"] for panel in dashboard["panels"]]
    assert len(set(titles)) == len(titles)
    for expr in expressions():
        assert METRIC.search(expr), expr


def test_every_queried_metric_is_exposed() -> None:
    queried = {name for expr in expressions() for name in METRIC.findall(expr)}
    assert queried - exposed() == set()
    wanted = {"tonebridge_worker_consumer_lag", "tonebridge_worker_messages_total",
              "tonebridge_worker_dead_letters_total", "tonebridge_worker_verdicts_total",
              "tonebridge_trainer_jobs_total", "tonebridge_trainer_loss"}  # fmt: skip
    assert wanted <= queried
