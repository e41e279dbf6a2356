"""What the request handlers use, built once per app and kept on ``app.state.services``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tonebridge.api.auth import Authenticator
from tonebridge.api.guard_store import GuardStore, open_guard_store
from tonebridge.api.idempotency import Idempotency
from tonebridge.api.known_models import KnownModels
from tonebridge.api.metrics import ApiMetrics
from tonebridge.api.ratelimit import RateLimiter
from tonebridge.api.sessions import Sessions
from tonebridge.api.ui.history import History
from tonebridge.avro.codec import Record
from tonebridge.decisions.model_feedback import ModelFeedback
from tonebridge.decisions.policy_progress import Progress
from tonebridge.decisions.retraining import Policy, policies_in_force
from tonebridge.errors import ProduceError, StoreError
from tonebridge.settings import Settings
from tonebridge.storage import (
    ABTestRepository,
    Database,
    DatasetRepository,
    FeedbackRepository,
    ModelRepository,
    TrainingJobRepository,
)

if TYPE_CHECKING:
    from tonebridge.client.publisher import Publisher
    from tonebridge.topics.spec import TopicSpec

Probe = Callable[[], Awaitable[None]]


class FeedbackStatsReader(Protocol):
    """The feedback agent's rolling statistics (``tonebridge.agents.views``)."""

    def model(self, model_id: str, now_ms: int | None = None) -> dict[str, Any] | None: ...

    def models(self) -> list[str]: ...

    def state(self, model_id: str) -> ModelFeedback | None: ...

    def progress(self, model_id: str, rules: Sequence[Policy]) -> list[Progress] | None: ...

    async def sync(self, timeout_s: float = 2.0) -> None: ...


class ABTestReader(Protocol):
    """The A/B agent's live state of each test (``tonebridge.agents.views``)."""

    def test(self, test_id: str) -> dict[str, Any] | None: ...

    def look(self, test_id: str) -> dict[str, Any] | None: ...


class LossCurveReader(Protocol):
    """Each training job's reported losses (``tonebridge.api.ui.losses``)."""

    def curve(self, job_id: str) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Repositories:
    jobs: TrainingJobRepository
    models: ModelRepository
    datasets: DatasetRepository
    ab_tests: ABTestRepository
    feedback: FeedbackRepository

    @classmethod
    def on(cls, database: Database) -> Repositories:
        return cls(
            TrainingJobRepository(database),
            ModelRepository(database),
            DatasetRepository(database),
            ABTestRepository(database),
            FeedbackRepository(database),
        )


@dataclass
class ApiServices:
    settings: Settings
    authenticator: Authenticator
    guard_store: GuardStore
    rate_limiter: RateLimiter
    idempotency: Idempotency
    metrics: ApiMetrics
    sessions: Sessions  # the dashboard's session cookies
    # The retraining policies the worker runs on the same settings (GET /policies).
    policies: tuple[Policy, ...] = ()
    # Set by the app's lifespan (or given to create_app):
    publisher: Publisher | None = None
    database: Database | None = None
    feedback_stats: FeedbackStatsReader | None = None
    ab_tests: ABTestReader | None = None
    loss_curves: LossCurveReader | None = None
    # name -> a check that raises when that dependency does not answer (for /readyz)
    probes: dict[str, Probe] = field(default_factory=dict)
    known_models: KnownModels = field(default_factory=KnownModels)
    ab_history: History = field(default_factory=History)  # the dashboard's A/B plots
    # The repositories on ``database``, built once rather than on every request.
    _repos: tuple[Database, Repositories] | None = field(default=None, init=False, repr=False)

    @classmethod
    def build(cls, settings: Settings, guard_store: GuardStore | None = None) -> ApiServices:
        store = guard_store or open_guard_store(settings)
        return cls(
            settings=settings,
            authenticator=Authenticator(settings.api_admin_keys, settings.api_ingest_keys),
            guard_store=store,
            rate_limiter=RateLimiter(store, settings.api_rate_limit_per_minute),
            idempotency=Idempotency.of(store, settings),
            metrics=ApiMetrics(),
            sessions=Sessions(settings.api_admin_keys),
            policies=policies_in_force(settings.retrain_policies_file, settings.retrain_enabled),
        )

    @property
    def repos(self) -> Repositories:
        if self.database is None:
            msg = "the API has no database (the app was not started)"
            raise StoreError(msg)
        if self._repos is None or self._repos[0] is not self.database:
            self._repos = (self.database, Repositories.on(self.database))
        return self._repos[1]

    async def publish(self, spec: TopicSpec, records: Sequence[Record], event: str) -> None:
        """Produce and wait for the broker's acknowledgement (acks=all); count them."""
        if self.publisher is None:
            msg = "the API has no producer (the app was not started)"
            raise ProduceError(msg)
        await self.publisher.publish(spec, *records, schema=event)
        self.metrics.accepted(event, len(records))
