"""An example downstream inference service that always serves the production adapter.

It follows the registry's events (:func:`tonebridge.client.watch.watch_models`) and, when a
``ModelChanged`` says a version was deployed to (or rolled back into) ``production``, loads
that adapter with peft on its base model in a worker thread and swaps it in. Requests are
never blocked by a load: they keep the old model until the new one is ready, then the
reference is replaced in one assignment. When several changes arrive while a load runs
(a replay on start-up, a deploy followed by a quick rollback), only the newest is loaded.

Run it next to a tonebridge deployment::

    python examples/inference_service.py --port 8100 --name tone-formal
    curl -X POST localhost:8100/rewrite -d '{"text": "send it asap", "tone": "formal"}' \
         -H 'content-type: application/json'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from tonebridge.client.watch import ModelEvent, watch_models
from tonebridge.settings import Settings, get_settings

log = logging.getLogger("inference_service")
SERVED_CHANGES = ("deployed", "rolled_back")


@dataclass(frozen=True)
class Served:
    """One loaded production version."""

    model_id: str
    name: str
    version: str
    loaded: Any  # tonebridge.handlers.methods.inference.LoadedModel


def load_adapter(event: ModelEvent, settings: Settings, default_base: str | None) -> Served:
    """Base model + adapter, ready to generate (blocking: call it in a thread)."""
    from tonebridge.handlers.methods.inference import load_for_inference
    from tonebridge.handlers.registry.artifacts import local_copy

    base = event.record.get("base_model") or default_base
    if not base:
        msg = f"ModelChanged for {event.model_id} names no base model; pass --base-model"
        raise ValueError(msg)
    # a folder, or a download from the artifact store (s3://, gs://: the [s3], [gcs] extras)
    adapter = local_copy(event.record["artifact_uri"], settings)
    loaded = load_for_inference(base, adapter)
    return Served(event.model_id, event.name, str(event.record["version"]), loaded)


class RewriteService:
    """Holds the served model and keeps it in step with the registry."""

    def __init__(
        self,
        settings: Settings,
        *,
        names: Collection[str] | None = None,
        alias: str = "production",
        base_model: str | None = None,
    ) -> None:
        self.settings = settings
        self.names = names
        self.alias = alias
        self.base_model = base_model
        self.served: Served | None = None
        self._wanted: ModelEvent | None = None
        self._changed = asyncio.Event()
        self.history: list[str] = []  # model ids served, in order

    def wants(self, event: ModelEvent) -> bool:
        return event.change in SERVED_CHANGES and event.record.get("alias") == self.alias

    async def follow(self) -> None:
        """Read registry events from the beginning (to find the current production
        version) and forever after."""
        events = watch_models(self.settings, from_beginning=True, names=self.names)
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                if self.wants(event):
                    self._wanted = event
                    self._changed.set()

    async def load_latest(self) -> None:
        """Load whatever is wanted now; newer wishes made meanwhile wait for the next turn."""
        while True:
            await self._changed.wait()
            self._changed.clear()
            event = self._wanted
            if event is None or (self.served and self.served.model_id == event.model_id):
                continue
            try:
                served = await asyncio.to_thread(
                    load_adapter, event, self.settings, self.base_model
                )
            except Exception:  # noqa: BLE001 - keep serving the old model; the log says why
                log.exception("could not load %s; still serving the previous model", event.model_id)
                continue
            self.served = served
            self.history.append(served.model_id)
            log.info("now serving %s v%s (%s)", served.name, served.version, served.model_id)

    def rewrite(self, text: str, tone: str) -> tuple[str, Served]:
        from tonebridge.handlers.methods.inference import generate_rewrites

        served = self.served  # one read: a swap during generation does not mix models
        if served is None:
            msg = "no production model yet"
            raise LookupError(msg)
        return generate_rewrites(served.loaded, [(text, tone)])[0], served

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RewriteService]:
        """Follow the registry and load models in the background while inside."""
        tasks = [asyncio.create_task(self.follow()), asyncio.create_task(self.load_latest())]
        try:
            yield self
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class RewriteRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    tone: str = Field(default="formal", min_length=1, max_length=100)


class RewriteResponse(BaseModel):
    rewrite: str
    model_id: str
    version: str


class ServedModel(BaseModel):
    model_id: str
    name: str
    version: str


def create_app(service: RewriteService) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with service.running():
            yield

    app = FastAPI(title="ToneBridge rewrite (example)", lifespan=lifespan)

    @app.get("/model")
    async def model() -> ServedModel:
        served = service.served
        if served is None:
            raise HTTPException(503, "no production model yet", headers={"Retry-After": "5"})
        return ServedModel(model_id=served.model_id, name=served.name, version=served.version)

    @app.post("/rewrite")
    async def rewrite(request: RewriteRequest) -> RewriteResponse:
        try:
            text, served = await asyncio.to_thread(service.rewrite, request.text, request.tone)
        except LookupError as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
        return RewriteResponse(rewrite=text, model_id=served.model_id, version=served.version)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--name", help="the registered model name to serve (default: any)")
    parser.add_argument("--base-model", help="when the event does not name one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    import uvicorn

    names = {args.name} if args.name else None
    service = RewriteService(get_settings(), names=names, base_model=args.base_model)
    uvicorn.run(create_app(service), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
