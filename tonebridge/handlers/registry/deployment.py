"""Deploy, roll back and archive model versions: database, MLflow aliases, ModelChanged.

One :class:`Deployer` serves the registry consumer (ModelCommands from Kafka) and the HTTP
API alike. Each action changes the ``models`` row first (its transaction decides races:
one production row per name), then moves the MLflow ``production`` alias, then emits
ModelChanged. Every action can be repeated: a retry after a failure in a later step
converges. What an action may do is :mod:`tonebridge.decisions.registry_rules`' to say; the
HTTP API checks the same rules for an early ``409``.

Rollback goes to the version the current one replaced, as the registry tagged it at deploy
time; versions without MLflow history (the base model) fall back to the database's record
of the previously deployed version. The untrained base model has no MLflow version: when it
serves, no version holds the ``production`` alias.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tonebridge.avro.codec import Record
from tonebridge.client.publisher import Publisher
from tonebridge.decisions.registry_rules import (
    check_archive,
    check_predecessor,
    check_rollback,
    of_row,
)
from tonebridge.errors import InvalidEventError
from tonebridge.handlers.registry.store import Registry
from tonebridge.storage import ModelRepository
from tonebridge.storage.records import ModelRecord
from tonebridge.topics.models import MODEL_CHANGED, MODEL_EVENTS_TOPIC, model_changed

Change = Literal["deployed", "rolled_back", "archived"]


@dataclass(frozen=True)
class ModelChange:
    """What an action did: the model now concerned, the one it displaced, the event sent."""

    change: Change
    model: ModelRecord
    previous: ModelRecord | None
    event: Record


class Deployer:
    def __init__(
        self, models: ModelRepository, registry: Registry, events: Publisher | None = None
    ) -> None:
        self.models = models
        self.registry = registry
        self.events = events

    async def apply(self, command: Mapping[str, Any]) -> ModelChange:
        """Carry out a ModelCommand record (deploy, rollback or archive)."""
        action, model_id, reason = command["action"], command["model_id"], command.get("reason")
        if action == "deploy":
            return await self.deploy(model_id, reason)
        if action == "rollback":
            return await self.rollback(model_id, reason)
        if action == "archive":
            return await self.archive(model_id, reason)
        msg = f"unknown model action {action!r}"
        raise InvalidEventError(msg)

    async def deploy(self, model_id: str, reason: str | None = None) -> ModelChange:
        """Make ``model_id`` the production version of its name."""
        model = await self.models.get(model_id)
        if _registered(model):  # refuse before the database moves
            await asyncio.to_thread(self.registry.check_deployable, model.name, model.version)
        if model.status == "production":
            current = model
            replaced = None
        else:
            promotion = await self.models.promote(model_id)
            current, replaced = promotion.model, promotion.replaced
        if _registered(current):
            previous = replaced.version if replaced else None
            await asyncio.to_thread(self.registry.deploy, current.name, current.version, previous)
        return await self._emit("deployed", current, replaced, reason)

    async def rollback(self, model_id: str, reason: str | None = None) -> ModelChange:
        """Put back the version ``model_id`` (the production one) replaced."""
        current = await self.models.get(model_id)
        check_rollback(of_row(current))
        target = await self._rollback_target(current)
        promoted = (await self.models.promote(target.id)).model
        await asyncio.to_thread(self._move_alias_back, current, promoted)
        return await self._emit("rolled_back", promoted, current, reason)

    async def archive(self, model_id: str, reason: str | None = None) -> ModelChange:
        """Retire a version that is not in production."""
        check_archive(of_row(await self.models.get(model_id)))
        archived = await self.models.set_status(model_id, "archived")
        if _registered(archived):
            await asyncio.to_thread(self.registry.archive, archived.name, archived.version)
        return await self._emit("archived", archived, None, reason)

    async def _rollback_target(self, current: ModelRecord) -> ModelRecord:
        version = None
        if _registered(current):
            version = await asyncio.to_thread(
                self.registry.previous_production, current.name, current.version
            )
        target = await self._by_version(current.name, version) if version else None
        target = target or await self.models.previous_production(current.name)
        if target is not None and target.id == current.id:
            target = None
        return check_predecessor(f"{current.name} v{current.version}", target)

    async def _by_version(self, name: str, version: str) -> ModelRecord | None:
        for model in await self.models.list(name=name, limit=1000):
            if model.version == version:
                return model
        return None

    def _move_alias_back(self, current: ModelRecord, target: ModelRecord) -> None:
        """MLflow follows the database (sync: runs in a thread)."""
        on_alias = self.registry.alias_version(current.name, "production")
        if on_alias is None and _registered(target):
            self.registry.deploy(target.name, target.version)
        elif on_alias is not None:
            self.registry.rollback(current.name, target.version)

    async def _emit(
        self, change: Change, model: ModelRecord, previous: ModelRecord | None, reason: str | None
    ) -> ModelChange:
        record = model_changed(
            model_id=model.id,
            name=model.name,
            version=model.version,
            change=change,
            artifact_uri=model.path,
            base_model=model.base_model,
            previous_model_id=previous.id if previous else None,
            reason=reason,
        )
        if self.events is not None:
            await self.events.publish(MODEL_EVENTS_TOPIC, record, schema=MODEL_CHANGED)
        return ModelChange(change, model, previous, record)


def _registered(model: ModelRecord) -> bool:
    """Trained versions have an MLflow run and a numeric registry version; base rows do not."""
    return model.mlflow_run_id is not None and model.version.isdigit()
