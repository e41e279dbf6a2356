from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tonebridge.decisions.registry_rules import (
    Standing,
    check_archive,
    check_deploy,
    check_has_production,
    check_predecessor,
    check_rollback,
    of_row,
    of_version,
)
from tonebridge.errors import ConflictError


@dataclass(frozen=True)
class Row:
    id: str
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)


def standing(status: str | None, verdict: float | None = None) -> Standing:
    return Standing("model 'm-1'", status, verdict)


def test_a_row_is_named_by_id_and_carries_its_verdict() -> None:
    row = Row("m-1", "draft", {"chrf": 41.5, "vs_baseline_verdict": -1})
    assert of_row(row) == Standing("model 'm-1'", "draft", -1)
    assert of_row(Row("m-2", "staging", {"vs_baseline_verdict": "n/a"})).verdict is None
    assert of_row(Row("m-3", "staging")).verdict is None


def test_an_mlflow_version_is_named_by_name_and_version() -> None:
    assert of_version("tone", "3", "archived") == Standing("tone v3", "archived")


@pytest.mark.parametrize("status", ["draft", "staging"])
@pytest.mark.parametrize("verdict", [None, 0.0, 1.0])
def test_drafts_that_did_not_lose_may_deploy(status: str, verdict: float | None) -> None:
    check_deploy(standing(status, verdict))


@pytest.mark.parametrize(
    ("model", "why"),
    [
        (standing("production"), "model 'm-1' is already in production"),
        (standing("archived"), "model 'm-1' is archived and cannot be deployed"),
        (standing("draft", -1.0), "model 'm-1' failed its evaluation"),
    ],
)
def test_refused_deploys(model: Standing, why: str) -> None:
    with pytest.raises(ConflictError, match=why):
        check_deploy(model)


def test_a_repeated_deploy_of_production_converges_but_archived_stays_refused() -> None:
    check_deploy(standing("production"), again=True)
    check_deploy(standing("production", -1.0), again=True)  # it serves already
    with pytest.raises(ConflictError, match="archived"):
        check_deploy(standing("archived"), again=True)


def test_only_production_can_be_rolled_back() -> None:
    check_rollback(standing("production"))
    for status in ("draft", "staging", "archived", None):
        with pytest.raises(ConflictError, match="not production: nothing to roll back"):
            check_rollback(standing(status))


def test_a_rollback_needs_a_production_version_of_the_name() -> None:
    assert check_has_production("tone", "2") == "2"
    with pytest.raises(ConflictError, match="'tone' has no production version"):
        check_has_production("tone", None)


def test_a_rollback_needs_a_predecessor() -> None:
    assert check_predecessor("tone v2", "1") == "1"
    with pytest.raises(ConflictError) as refused:
        check_predecessor("tone v2", None)
    assert "tone v2 has no previous production version" in str(refused.value)
    assert "no earlier production version" in str(refused.value)  # the API's wording


def test_production_cannot_be_archived() -> None:
    for status in ("draft", "staging", "archived", None):
        check_archive(standing(status))
    with pytest.raises(ConflictError, match="is in production: deploy or roll back first"):
        check_archive(standing("production"))
