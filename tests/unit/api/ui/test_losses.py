"""Loss curves from TrainingStatus records: one point per step that reports a loss."""

from __future__ import annotations

from collections import deque
from typing import Any

from tonebridge.api.ui.losses import add_point
from tonebridge.topics.training import training_status


def test_statuses_with_a_loss_become_points_once_per_step() -> None:
    curves: dict[str, deque[dict[str, Any]]] = {}
    add_point(curves, training_status("j", "c", "pending"))
    add_point(curves, training_status("j", "c", "running", step=2, loss=1.5, progress=0.1))
    add_point(curves, training_status("j", "c", "running", step=2, loss=1.5, progress=0.1))
    add_point(curves, training_status("j", "c", "running", step=4, loss=1.2, progress=0.2))
    add_point(curves, training_status("k", "d", "running", step=1, loss=3.0, progress=0.5))
    assert list(curves["j"]) == [
        {"step": 2, "loss": 1.5, "progress": 0.1},
        {"step": 4, "loss": 1.2, "progress": 0.2},
    ]
    assert [p["loss"] for p in curves["k"]] == [3.0]
