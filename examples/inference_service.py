"""An example downstream inference service: the production adapter, or A/B arms by the router.

By default (:class:`RewriteService`) it follows the registry's events
(:func:`tonebridge.client.watch.watch_models`) and, when a ``ModelChanged`` says a version
was deployed to (or rolled back into) ``production``, loads that adapter with peft on its
base model in a worker thread and swaps it in. Requests are never blocked by a load: they
keep the old model until the new one is ready, then the reference is replaced in one
assignment. When several changes arrive while a load runs (a replay on start-up, a deploy
followed by a quick rollback), only the newest is loaded.

With ``--route`` (:class:`RoutedRewriteService`) each request names its user, and the
:class:`~tonebridge.client.router.ExperimentRouter` picks the model: an arm of the A/B test
running for the name (the same arm for the same user), else the production model. Every model
routed to is loaded once and kept, so both arms serve side by side; ``POST /outcome`` reports
how a request went, with the test and arm that served it, and that traffic is what decides
the test (and, for a promotion test, the deploy).

Run it next to a tonebridge deployment::

    python examples/inference_service.py --port 8100 --name tone-formal
    curl -X POST localhost:8100/rewrite -d '{"text": "send it asap", "tone": "formal"}' \
         -H 'content-type: application/json'

    python examples/inference_service.py --port 8100 --name tone-formal --route
    curl -X POST localhost:8100/rewrite -H 'content-type: application/json' \
         -d '{"text": "send it asap", "tone": "formal", "user_id": "u-42"}'
    curl -X POST localhost:8100/outcome -H 'content-type: application/json' \
         -d '{"request_id": "<from the answer>", "success": true}'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from tonebridge.client.router import ExperimentRouter, Route
from tonebridge.client.watch import ModelEvent, watch_models
from tonebridge.errors import RouteError
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


def load_registered(record: Mapping[str, Any], settings: Settings) -> Any:
    """A registered model ready to generate: a base model as it is (its artifact is the base
    model itself), an adapter on its base (blocking: call it in a thread)."""
    from tonebridge.handlers.methods.inference import load_for_inference
    from tonebridge.handlers.registry.artifacts import local_copy

    artifact, base = record.get("artifact_uri"), record.get("base_model")
    if not base:
        msg = f"model {record['model_id']} names no base model"
        raise LookupError(msg)
    adapter = None if artifact in (None, "", base) else local_copy(str(artifact), settings)
    return load_for_inference(base, adapter)


class RoutedRewriteService:
    """Serves each user the model the experiment router picks for ``name``, and reports
    outcomes with the route that served them (kept for the ``max_pending`` latest requests)."""

    def __init__(self, settings: Settings, name: str, *, max_pending: int = 10_000) -> None:
        self.settings = settings
        self.name = name
        self.router = ExperimentRouter(settings)
        self.records: dict[str, Mapping[str, Any]] = {}  # model id -> its latest registry event
        self.loaded: dict[str, Any] = {}  # model id -> LoadedModel: every arm stays loaded
        self._loading: dict[str, asyncio.Lock] = {}
        self.pending: OrderedDict[str, Route] = OrderedDict()  # request id -> its route
        self.max_pending = max_pending

    async def follow(self) -> None:
        """Learn where every model of the name lives (the router knows only its id)."""
        events = watch_models(self.settings, from_beginning=True, names={self.name})
        async with contextlib.aclosing(events) as stream:
            async for event in stream:
                self.records[event.model_id] = event.record

    async def model(self, model_id: str) -> Any:
        """The loaded model ``model_id``, loaded on its first request (in a thread)."""
        async with self._loading.setdefault(model_id, asyncio.Lock()):
            if model_id not in self.loaded:
                record = self.records.get(model_id)
                if record is None:
                    msg = f"model {model_id} is not known here yet"
                    raise LookupError(msg)
                loaded = await asyncio.to_thread(load_registered, record, self.settings)
                self.loaded[model_id] = loaded
        return self.loaded[model_id]

    async def rewrite(self, user_id: str, text: str, tone: str) -> tuple[str, str, Route]:
        """The rewrite, the request's id (for its outcome) and the route that served it."""
        from tonebridge.handlers.methods.inference import generate_rewrites

        try:
            route = self.router.route(user_id, model_name=self.name)
        except RouteError as exc:
            raise LookupError(str(exc)) from exc
        loaded = await self.model(route.model_id)
        [output] = await asyncio.to_thread(generate_rewrites, loaded, [(text, tone)])
        request_id = uuid.uuid4().hex
        self.pending[request_id] = route
        while len(self.pending) > self.max_pending:
            self.pending.popitem(last=False)
        return output, request_id, route

    async def report(self, request_id: str, success: bool | None, rating: float | None) -> None:
        """Send the outcome of ``request_id``; KeyError if it is unknown (or too old)."""
        route = self.pending.pop(request_id)
        metrics = None if rating is None else {"rating": rating}
        await self.router.record_outcome(
            route, request_id=request_id, success=success, metrics=metrics
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RoutedRewriteService]:
        """Follow the A/B tests (the router) and the registry while inside."""
        async with self.router:
            task = asyncio.create_task(self.follow())
            try:
                yield self
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


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


class RoutedRequest(RewriteRequest):
    user_id: str = Field(min_length=1, max_length=200, description="Who the rewrite is for.")


class RoutedResponse(BaseModel):
    rewrite: str
    request_id: str = Field(description="Name it in POST /outcome.")
    model_id: str
    test_id: str | None
    arm_id: str | None


class OutcomeRequest(BaseModel):
    request_id: str = Field(min_length=1, max_length=64)
    success: bool | None = None
    rating: float | None = Field(default=None, ge=1, le=5)


def create_routed_app(service: RoutedRewriteService) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with service.running():
            yield

    app = FastAPI(title="ToneBridge rewrite through the router (example)", lifespan=lifespan)

    @app.post("/rewrite")
    async def rewrite(request: RoutedRequest) -> RoutedResponse:
        try:
            text, request_id, route = await service.rewrite(
                request.user_id, request.text, request.tone
            )
        except LookupError as exc:
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
        return RoutedResponse(
            rewrite=text,
            request_id=request_id,
            model_id=route.model_id,
            test_id=route.test_id,
            arm_id=route.arm_id,
        )

    @app.post("/outcome", status_code=202)
    async def outcome(request: OutcomeRequest) -> dict[str, str]:
        try:
            await service.report(request.request_id, request.success, request.rating)
        except KeyError as exc:
            msg = f"request_id {request.request_id!r} is unknown here (or too old)"
            raise HTTPException(404, msg) from exc
        return {"request_id": request.request_id}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--name", help="the registered model name to serve (default: any)")
    parser.add_argument("--base-model", help="when the event does not name one")
    parser.add_argument(
        "--route", action="store_true", help="serve A/B arms through the router (needs --name)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    import uvicorn

    if args.route:
        if not args.name:
            parser.error("--route needs --name")
        routed = RoutedRewriteService(get_settings(), args.name)
        uvicorn.run(create_routed_app(routed), host=args.host, port=args.port)
        return
    names = {args.name} if args.name else None
    service = RewriteService(get_settings(), names=names, base_model=args.base_model)
    uvicorn.run(create_app(service), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
