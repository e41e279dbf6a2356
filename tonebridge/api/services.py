"""What the request handlers use, built once per app and kept on ``app.state.services``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tonebridge.api.auth import Authenticator
from tonebridge.api.guard_store import GuardStore, open_guard_store
from tonebridge.api.idempotency import Idempotency
from tonebridge.api.metrics import ApiMetrics
from tonebridge.api.ratelimit import RateLimiter
from tonebridge.settings import Settings

Probe = Callable[[], Awaitable[None]]


@dataclass
class ApiServices:
    settings: Settings
    authenticator: Authenticator
    guard_store: GuardStore
    rate_limiter: RateLimiter
    idempotency: Idempotency
    metrics: ApiMetrics
    # name -> a check that raises when that dependency does not answer (for /readyz)
    probes: dict[str, Probe] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, guard_store: GuardStore | None = None) -> ApiServices:
        store = guard_store or open_guard_store(settings)
        return cls(
            settings=settings,
            authenticator=Authenticator(settings.api_admin_keys, settings.api_ingest_keys),
            guard_store=store,
            rate_limiter=RateLimiter(store, settings.api_rate_limit_per_minute),
            idempotency=Idempotency(store),
            metrics=ApiMetrics(),
        )
