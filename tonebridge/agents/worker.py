"""Run the stream worker process: the database, the policies and the faust app together."""

from __future__ import annotations

import gc
import logging
from typing import Any

from tonebridge.agents.app import ALL_ROLES, Roles, Wiring, create_app, serve_metrics
from tonebridge.agents.promotion import (
    DatabaseProduction,
    DatabasePromotionTests,
    PromotionContext,
    register_promotion,
)
from tonebridge.decisions.promotion import load_promotion
from tonebridge.decisions.retraining import policies_in_force
from tonebridge.errors import ConflictError, IntegrityError, NotFoundError
from tonebridge.observability.logs import json_logging_config
from tonebridge.settings import Settings

log = logging.getLogger(__name__)


class DatabaseVerdicts:
    """Ends decided A/B tests in ``ab_tests``; the verdict topic stays the record of truth."""

    def __init__(self, repository: Any) -> None:
        self._repository = repository

    async def record(self, test_id: str, winner_model_id: str | None, results: Any) -> None:
        try:
            # Transient failures propagate: the agent retries the whole batch.
            await self._repository.complete(test_id, winner_model_id, results)
        except (NotFoundError, ConflictError, IntegrityError) as exc:
            # A test created straight on the topic has no row; one ended by hand stays ended.
            log.warning("A/B test %s not completed in the database: %s", test_id, exc)


def build_worker(settings: Settings, roles: Roles = ALL_ROLES) -> Any:
    """The worker with its database adapters and the policies in force (``RETRAIN_*``)."""
    from tonebridge.storage.abtests import ABTestRepository
    from tonebridge.storage.db import Database
    from tonebridge.storage.feedback import FeedbackRepository

    (settings.data_dir / "worker").mkdir(parents=True, exist_ok=True)  # faust's datadir
    database = Database.from_settings(settings)
    wiring = Wiring(
        policies=policies_in_force(settings.retrain_policies_file, settings.retrain_enabled),
        verdicts=DatabaseVerdicts(ABTestRepository(database)),
        writer=FeedbackRepository(database),
    )
    worker = create_app(settings, wiring, roles)
    if roles.promotion:
        _add_promotion(worker, settings, database, wiring)
    worker.app.on_before_shutdown.connect(_disposer(database))
    return worker


def _add_promotion(worker: Any, settings: Settings, database: Any, wiring: Wiring) -> None:
    """``promote_models``: the ``promotion`` section of the same policies file."""
    from tonebridge.storage.abtests import ABTestRepository
    from tonebridge.storage.models import ModelRepository

    context = PromotionContext(
        load_promotion(settings.retrain_policies_file),
        worker.feedback.outbox,
        DatabaseProduction(ModelRepository(database)),
        DatabasePromotionTests(ABTestRepository(database)),
    )
    register_promotion(worker, settings, context, wiring.batching, wiring.fatal)


def _disposer(database: Any) -> Any:
    async def dispose(app: Any, **_: Any) -> None:
        await database.dispose()

    return dispose


def run_worker(settings: Settings, roles: Roles = ALL_ROLES, loglevel: str = "info") -> None:
    """Run until SIGTERM/SIGINT (faust's worker installs the handlers)."""
    import faust

    worker = build_worker(settings, roles)
    # The imports (faust, scipy, SQLAlchemy, ...) leave a large heap that every full
    # collection would scan again; freeze it, and collect young objects less often: both
    # cut the pauses that show as latency spikes on the decision path.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 50)
    json_lines = settings.log_format == "json"
    logging_config = json_logging_config(loglevel) if json_lines else None
    process = faust.Worker(worker.app, loglevel=loglevel, quiet=True, logging_config=logging_config)
    if settings.metrics_port:
        serve_metrics(worker, settings, process.loop)
    # At ``warning`` and above faust's terminal spinner sets the root logger to DEBUG, so
    # every debug line of aiokafka (several per fetch and send) builds a log record.
    process.spinner = None
    process.execute_from_commandline()
