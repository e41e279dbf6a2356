"""Which model ids are registered, for ingestion's check of the models its events name.

Feedback and outcomes for a model the ``models`` table does not know are refused with a 422
naming the event's ``model_id`` field and the id, rather than accepted and then dead-lettered
by the database sink. The hot path stays cheap: ids found once are remembered (models are not
deleted, except a draft whose registration failed, which nobody could have served), so a
batch naming known models costs no query; only ids not yet seen are looked up, all in one
query, and a miss is not remembered (the model may be registered a moment later).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from tonebridge.storage import ModelRepository

DEFAULT_CAPACITY = 10_000


class KnownModels:
    """A bounded cache of registered model ids in front of :class:`ModelRepository`."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._known: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self.lookups = 0  # database queries made, for tests and metrics

    async def unknown(self, models: ModelRepository, model_ids: Iterable[str]) -> set[str]:
        """Those of ``model_ids`` that are not registered (one query at most)."""
        missing = {model_id for model_id in model_ids if not self._seen(model_id)}
        if not missing:
            return set()
        self.lookups += 1
        found = await models.existing(missing)
        for model_id in found:
            self._remember(model_id)
        return missing - found

    def _seen(self, model_id: str) -> bool:
        if model_id in self._known:
            self._known.move_to_end(model_id)
            return True
        return False

    def _remember(self, model_id: str) -> None:
        self._known[model_id] = None
        if len(self._known) > self._capacity:
            self._known.popitem(last=False)
