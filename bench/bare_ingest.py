"""The bare ingest endpoint that ``bench/ingest_http.py`` holds tonebridge's ``POST /feedback`` to.

What any FastAPI service would do without tonebridge: validate the body with pydantic (one
event or ``{"events": [...]}``), encode each event with fastavro, and ``send_and_wait`` it with
aiokafka (``acks=all``); answer 202 with the event ids. No authentication, rate limit,
idempotency, model check or metrics. ``--settle-heap`` gives it the garbage-collector settings
``tonebridge api`` runs with (the start-up heap frozen, young objects collected less often).

Usage: python bench/bare_ingest.py --bootstrap HOST:PORT --topic TOPIC --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import fastavro
import uvicorn
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from pydantic import BaseModel, Field

SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "BareFeedback",
        "fields": [
            {"name": "event_id", "type": "string"},
            {"name": "user_id", "type": "string"},
            {"name": "model_id", "type": "string"},
            {"name": "input_text", "type": "string"},
            {"name": "output_text", "type": "string"},
            {"name": "corrected_text", "type": ["null", "string"]},
            {"name": "transformation_type", "type": "string"},
            {"name": "rating", "type": ["null", "int"]},
        ],
    }
)


class Event(BaseModel):
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    user_id: str = Field(min_length=1, max_length=200)
    model_id: str = Field(min_length=1, max_length=200)
    input_text: str = Field(min_length=1, max_length=20_000)
    output_text: str = Field(min_length=1, max_length=20_000)
    corrected_text: str | None = Field(default=None, max_length=20_000)
    transformation_type: str = Field(min_length=1, max_length=100)
    rating: int | None = Field(default=None, ge=1, le=5)


class Batch(BaseModel):
    events: list[Event] = Field(min_length=1, max_length=1000)


def encode(event: Event) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, SCHEMA, event.model_dump(mode="json"))
    return out.getvalue()


def decode(value: bytes) -> dict[str, Any]:
    """The bench's reader: one event per Kafka message."""
    record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(value), SCHEMA, None)
    return record


def create_app(bootstrap: str, topic: str) -> FastAPI:
    producers: list[AIOKafkaProducer] = []  # made in the server's event loop

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        producers.append(AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all"))
        await producers[0].start()
        yield
        await producers[0].stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/feedback", status_code=202)
    async def post_feedback(body: Event | Batch) -> dict[str, Any]:
        events = body.events if isinstance(body, Batch) else [body]
        sends = [
            producers[0].send_and_wait(topic, encode(e), key=e.model_id.encode()) for e in events
        ]
        await asyncio.gather(*sends)
        return {"accepted": len(events), "event_ids": [str(e.event_id) for e in events]}

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--settle-heap", action="store_true", help="freeze the start-up heap, as tonebridge does"
    )
    args = parser.parse_args()
    app = create_app(args.bootstrap, args.topic)
    if args.settle_heap:  # the same garbage-collector settings as `tonebridge api`
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 20, 50)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
