"""The trainer's continual-training choices that need no database: the share and the windows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tonebridge.errors import TrainingError
from tonebridge.handlers.datasets.formats import Limits
from tonebridge.handlers.evaluation import EvalConfig
from tonebridge.handlers.trainer.continual import older_selections, replay_share
from tonebridge.handlers.trainer.plan import Plan, _continual
from tonebridge.storage.records import FeedbackSelection

SINCE = datetime(2026, 3, 2, tzinfo=UTC)
UNTIL = datetime(2026, 3, 3, tzinfo=UTC)


def plan(kind: str = "sft", **fields: Any) -> Plan:
    return Plan(
        job=None, command_id="c", kind=kind, base_model="local/tiny", name="tone",  # type: ignore[arg-type]
        model_type="tone_adjustment", parent=None, baseline=None, options={}, limits=Limits(),
        eval_config=EvalConfig(), **fields,
    )  # fmt: skip


def test_the_share_is_the_jobs_own_else_the_settings_and_none_for_an_evaluation() -> None:
    assert replay_share(plan(), 0.3) == 0.3
    assert replay_share(plan(replay_fraction=0.0), 0.3) == 0.0
    assert replay_share(plan(replay_fraction=0.8), 0.3) == 0.8
    assert replay_share(plan("evaluate", replay_fraction=0.8), 0.3) == 0.0


def test_the_options_are_read_and_checked_from_config_json() -> None:
    assert _continual({}) == ("parent", None)
    assert _continual({"start_from": "base", "replay_fraction": 0.5}) == ("base", 0.5)
    with pytest.raises(TrainingError, match="start_from"):
        _continual({"start_from": "nowhere"})
    with pytest.raises(TrainingError, match="replay_fraction"):
        _continual({"replay_fraction": 2})


def test_older_feedback_is_the_parents_before_the_window_and_every_ancestors() -> None:
    window = FeedbackSelection(model_id="v2", since=SINCE, until=UNTIL, corrections_only=True)
    before, *ancestors = older_selections(window, ["v2", "v1", "base"])
    assert before == FeedbackSelection(model_id="v2", since=None, until=SINCE)
    assert ancestors == [
        FeedbackSelection(model_id=m, since=None, until=UNTIL) for m in ("v1", "base")
    ]


def test_a_window_from_the_beginning_leaves_only_the_ancestors() -> None:
    window = FeedbackSelection(model_id="v1", until=UNTIL, corrections_only=False)
    assert older_selections(window, ["v1"]) == []
    [base] = older_selections(window, ["v1", "base"])
    assert (base.model_id, base.since, base.corrections_only) == ("base", None, False)
