"""Readiness checks for ``/readyz``: each raises when its dependency does not answer."""

from __future__ import annotations

from sqlalchemy import text

from tonebridge.api.services import Probe
from tonebridge.settings import Settings
from tonebridge.storage.db import Database


def database_probe(database: Database) -> Probe:
    async def check() -> None:
        async with database.read() as session:
            await session.execute(text("SELECT 1"))

    return check


def broker_probe(settings: Settings) -> Probe:
    """A metadata round trip on a short-lived admin client (probes run every few seconds)."""

    async def check() -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        from tonebridge.topics.connection import client_kwargs

        admin = AIOKafkaAdminClient(
            **client_kwargs(settings, "tonebridge-api-probe"), request_timeout_ms=2000
        )
        await admin.start()
        try:
            await admin.list_topics()
        finally:
            await admin.close()

    return check
