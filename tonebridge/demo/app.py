"""A simulated ToneBridge app: requests, served by the real models, rated by simulated users.

The app serves a fixed set of requests (input text and tone) from the synthetic task. When a
model starts serving (production, or an arm of an A/B test) the app rewrites every request
with it once (a pool; generation is the slow part), so each simulated request is then a
lookup. Users react to the rewrite's measured quality (:mod:`tonebridge.demo.users`); the app
reports every request as an InferenceOutcome (with its A/B arm) and the users' ratings and
corrections as FeedbackEvents, through the producer SDK, as a real app would.

What serves is learned from the events, as a real app would learn it: production from
``watch_models`` (ModelChanged), A/B tests from the A/B commands and verdicts topics, and
where a registered model's weights are from its ModelRegistered event.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tonebridge.client.producer import EventProducer
from tonebridge.demo import traffic
from tonebridge.demo.models import Generator, ModelSource, corpus_chrf, source_of
from tonebridge.demo.needs import Request
from tonebridge.demo.story import Story
from tonebridge.demo.traffic import Assignment, Routing
from tonebridge.demo.users import UserModel, quality, react
from tonebridge.topics.feedback import FEEDBACK_TOPIC, feedback_event
from tonebridge.topics.inference import INFERENCE_OUTCOMES_TOPIC, inference_outcome

log = logging.getLogger(__name__)
TICK_S = 0.1
USERS = 400


@dataclass(frozen=True, slots=True)
class Served:
    request: Request
    output: str
    quality: float


def serve_pool(requests: Sequence[Request], outputs: Sequence[str]) -> list[Served]:
    return [
        Served(request, output, quality(output, request.target))
        for request, output in zip(requests, outputs, strict=True)
    ]


class SimulatedApp:
    def __init__(
        self,
        story: Story,
        generator: Generator,
        requests: Sequence[Request],
        clock: Callable[[], float],
        *,
        seed: int = 0,
        user: UserModel | None = None,
    ) -> None:
        self.story = story
        self.generator = generator
        self.requests = list(requests)
        self.clock = clock  # seconds since the demo started, for the story
        self.user = user or UserModel()
        self.routing = Routing()
        self.sources: dict[str, ModelSource] = {}
        self.pools: dict[str, list[Served]] = {}
        self._rng = random.Random(seed)  # noqa: S311 - a simulation, not secrets
        self._changed = asyncio.Event()

    # --- what serves ---------------------------------------------------------------------

    def add_model(self, model_id: str, source: ModelSource) -> None:
        self.sources[model_id] = source
        self._changed.set()

    def shift(self, requests: Sequence[Request]) -> None:
        """The users' needs changed: serve ``requests`` from now on, each model's pool rewritten
        before it serves again."""
        self.requests = list(requests)
        self.pools.clear()
        self.routing = traffic.on_unready(self.routing)
        self._changed.set()

    def deployed(self, model_id: str) -> None:
        self.routing = traffic.on_deployed(self.routing, model_id)
        self._changed.set()

    def on_event(self, name: str, record: Mapping[str, Any]) -> None:
        """Learn from an observed event what serves (A/B tests) and where models live."""
        if name == "ModelRegistered":
            self.add_model(str(record["model_id"]), source_of(record))
        elif name == "ABTestCommand":
            self.routing = traffic.on_test_command(self.routing, record)
        elif name == "ABTestVerdict":
            self.routing = traffic.on_test_ended(self.routing, str(record["test_id"]))
        self._changed.set()

    async def load_pools(self) -> None:
        """Rewrite the requests with every model that should serve, as they appear (forever)."""
        while True:
            self._changed.clear()
            for model_id in sorted(self._missing()):
                await self.load_pool(model_id)
            await self._changed.wait()

    def _missing(self) -> set[str]:
        return {m for m in self.routing.wanted - self.routing.ready if m in self.sources}

    async def load_pool(self, model_id: str) -> list[Served]:
        requests = self.requests
        pairs = [(r.input_text, r.tone) for r in requests]
        outputs = await asyncio.to_thread(self.generator.rewrites, self.sources[model_id], pairs)
        if requests is not self.requests:
            return []  # the needs shifted meanwhile: the next pass loads the new requests
        self.pools[model_id] = serve_pool(requests, outputs)
        self.routing = traffic.on_ready(self.routing, model_id)
        mean = sum(s.quality for s in self.pools[model_id]) / max(len(requests), 1)
        self.story.note(
            self.clock(), f"app loaded {self.story.label(model_id)}: mean chrF {mean:.1f}"
        )
        return self.pools[model_id]

    # --- traffic -------------------------------------------------------------------------

    async def serve(self, producer: EventProducer, requests_per_s: float) -> None:
        """Send outcomes and feedback at ``requests_per_s`` until cancelled."""
        loop = asyncio.get_running_loop()
        last, owed = loop.time(), 0.0
        while True:
            await asyncio.sleep(TICK_S)
            now = loop.time()
            owed += (now - last) * requests_per_s
            last = now
            while owed >= 1.0:
                owed -= 1.0
                await self.request(producer)

    async def until_stored(
        self, producer: EventProducer, stored: Callable[[], Awaitable[int]], deadline_s: float
    ) -> None:
        """Serve one request at a time until the pipeline has stored feedback (``stored() > 0``).

        An app goes live only once its feedback reaches the database: the worker's consumers
        need a few seconds to join their groups after it starts.
        """
        async with asyncio.timeout(deadline_s):
            while await stored() == 0:
                await self.request(producer)
                await producer.flush()
                await asyncio.sleep(0.5)

    async def request(self, producer: EventProducer) -> Assignment | None:
        """One simulated request: served, reacted to, reported."""
        assignment = traffic.route(self.routing, self._rng.random())
        if assignment is None:
            return None
        served = self._rng.choice(self.pools[assignment.model_id])
        reaction = react(self.user, served.quality, self._rng)
        request_id = str(uuid.UUID(int=self._rng.getrandbits(128)))
        outcome = inference_outcome(
            request_id=request_id,
            model_id=assignment.model_id,
            ab_test_id=assignment.test_id,
            arm_id=assignment.arm_id,
            transformation_type=served.request.tone,
            success=reaction.success,
            metrics={"rating": float(reaction.rating), "chrf": reaction.quality},
        )
        await producer.send(INFERENCE_OUTCOMES_TOPIC, outcome)
        if reaction.gives_feedback:
            await producer.send(
                FEEDBACK_TOPIC,
                self._feedback(assignment, served, reaction.rating, reaction.corrects, request_id),
            )
        served_by = self.story.served
        served_by[assignment.model_id] = served_by.get(assignment.model_id, 0) + 1
        return assignment

    def _feedback(
        self, assignment: Assignment, served: Served, rating: int, corrects: bool, request_id: str
    ) -> dict[str, Any]:
        return feedback_event(
            user_id=f"user-{self._rng.randrange(USERS)}",
            model_id=assignment.model_id,
            input_text=served.request.input_text,
            output_text=served.output,
            transformation_type=served.request.tone,
            rating=rating,
            corrected_text=served.request.target if corrects else None,
            metadata={"request_id": request_id, "source": "tonebridge-demo"},
        )

    # --- the end ---------------------------------------------------------------------------

    async def held_out_chrf(
        self, model_ids: Sequence[str], held_out: Sequence[Request]
    ) -> dict[str, float]:
        """Corpus chrF of each model on requests the app never served."""
        pairs = [(r.input_text, r.tone) for r in held_out]
        targets = [r.target for r in held_out]
        scores = {}
        for model_id in model_ids:
            outputs = await asyncio.to_thread(
                self.generator.rewrites, self.sources[model_id], pairs
            )
            scores[model_id] = corpus_chrf(outputs, targets)
        return scores
