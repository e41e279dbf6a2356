"""What the model registry allows: every deploy, rollback and archive rule, stated once.

The HTTP API checks them for an early ``409``, the :class:`~tonebridge.handlers.registry.
deployment.Deployer` (registry consumer) checks them on the ``models`` row before anything
moves, and the MLflow wrapper checks them on its aliases and status tags. Each rule raises
:class:`~tonebridge.errors.ConflictError` with one message, whoever asks.

- Deploy: not a version already in production (a retried command may repeat it: ``again``),
  not an archived one, not one significantly worse than its baseline (verdict < 0).
- Roll back: only the production version, and only to a version that served before it.
- Archive: never the production version.

A version is described by a :class:`Standing`: a ``models`` row (:func:`of_row`) or an MLflow
version with its status tag (:func:`of_version`). The two statuses differ in one respect: a
row is ``archived`` as soon as another version replaces it in production, an MLflow version
only when it is retired by an archive command. So the API refuses to deploy any earlier
version (a rollback brings one back), while the Deployer, which checks MLflow's tag, lets a
model command bring back a replaced version that was never retired.

Pure: no I/O, no MLflow, no faust.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol, TypeVar

from tonebridge.errors import ConflictError

PRODUCTION = "production"
ARCHIVED = "archived"
# The trainer's evaluation against the baseline: 1 better, 0 tie, -1 significantly worse.
VERDICT = "vs_baseline_verdict"
T = TypeVar("T")


class ModelRow(Protocol):
    """The fields of a ``models`` row the rules read (a storage ``ModelRecord``)."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def metrics(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Standing:
    """A model version as the rules see it: how messages name it, its status, its verdict."""

    label: str  # "model 'abc'" for a row, "tone v3" for an MLflow version
    status: str | None  # a models status or the MLflow status tag; None: none recorded
    verdict: float | None = None


def of_row(model: ModelRow) -> Standing:
    """The standing of a ``models`` row."""
    verdict = model.metrics.get(VERDICT)
    if not isinstance(verdict, int | float) or isinstance(verdict, bool):
        verdict = None  # not evaluated against a baseline
    return Standing(f"model {model.id!r}", model.status, verdict)


def of_version(name: str, version: str, status: str | None) -> Standing:
    """The standing of an MLflow version, from its status tag."""
    return Standing(f"{name} v{version}", status)


def check_deploy(model: Standing, *, again: bool = False) -> None:
    """Refuse a deploy the registry does not allow; ``again``: a repeat of one that ran."""
    if model.status == PRODUCTION:
        if again:
            return
        _refuse(f"{model.label} is already in production")
    if model.status == ARCHIVED:
        _refuse(f"{model.label} is archived and cannot be deployed (a rollback reaches it)")
    if model.verdict is not None and model.verdict < 0:
        _refuse(
            f"{model.label} failed its evaluation: significantly worse than its "
            f"baseline ({VERDICT} < 0); it cannot be deployed"
        )


def check_rollback(model: Standing) -> None:
    """Only the production version can be rolled back."""
    if model.status != PRODUCTION:
        _refuse(f"{model.label} is {model.status}, not production: nothing to roll back")


def check_has_production(name: str, current: str | None) -> str:
    """A name with no production version (``current`` None) has nothing to roll back."""
    if current is None:
        _refuse(f"{name!r} has no production version: nothing to roll back")
    return current


def check_predecessor(label: str, target: T | None) -> T:
    """A rollback needs the version that served before (``target``; None: there is none)."""
    if target is None:
        _refuse(
            f"{label} has no previous production version "
            "(no earlier production version to roll back to)"
        )
    return target


def check_archive(model: Standing) -> None:
    """The production version cannot be archived."""
    if model.status == PRODUCTION:
        _refuse(f"{model.label} is in production: deploy or roll back first")


def _refuse(message: str) -> NoReturn:
    raise ConflictError(message)
