"""Ingestion (``ingest`` scope): ``POST /feedback``, ``POST /outcomes``; and feedback stats."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import Discriminator, Tag

from tonebridge.api.deps import (
    INGEST_SECURITY,
    Admin,
    Fresh,
    Ingesting,
    ModelFilter,
    Responses,
    Services,
)
from tonebridge.api.ingest_route import IngestRoute
from tonebridge.api.schemas.common import check_event_times
from tonebridge.api.schemas.feedback import (
    FeedbackBatch,
    FeedbackIn,
    FeedbackStats,
    IngestAccepted,
    OutcomeBatch,
    OutcomeIn,
)
from tonebridge.api.services import ApiServices
from tonebridge.avro.codec import Record
from tonebridge.errors import BrokerError, NotFoundError
from tonebridge.topics.feedback import FEEDBACK_EVENT, FEEDBACK_TOPIC
from tonebridge.topics.inference import INFERENCE_OUTCOME, INFERENCE_OUTCOMES_TOPIC

router = APIRouter(tags=["feedback"], route_class=IngestRoute)
_UNKNOWN_MODEL: Responses = {
    422: {"description": "Invalid events, or events naming a model that is not registered."}
}


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "events" in value else "event"


FeedbackBody = Annotated[
    Annotated[FeedbackIn, Tag("event")] | Annotated[FeedbackBatch, Tag("batch")],
    Discriminator(_shape),
    Body(description='One event, or {"events": [...]} (up to 1000).'),
]
OutcomeBody = Annotated[
    Annotated[OutcomeIn, Tag("event")] | Annotated[OutcomeBatch, Tag("batch")],
    Discriminator(_shape),
    Body(description='One outcome, or {"events": [...]} (up to 1000).'),
]


@router.post(
    "/feedback",
    status_code=202,
    response_model=IngestAccepted,
    responses=_UNKNOWN_MODEL,
    summary="Send ratings and corrections",
    openapi_extra=INGEST_SECURITY,
)
async def post_feedback(body: FeedbackBody, services: Ingesting) -> Response:
    """Returns once the broker has every event (acks=all). Send ``event_id`` to make
    retries harmless: consumers deduplicate on it."""
    events = body.events if isinstance(body, FeedbackBatch) else [body]
    check_event_times(events, services.settings.event_time_max_future_s, body is not events[0])
    await require_known_models(services, events, body is not events[0])
    records = [event.to_record() for event in events]
    await services.publish(FEEDBACK_TOPIC, records, FEEDBACK_EVENT)
    return accepted(records)


@router.post(
    "/outcomes",
    status_code=202,
    response_model=IngestAccepted,
    responses=_UNKNOWN_MODEL,
    summary="Send inference outcomes (A/B tests)",
    openapi_extra=INGEST_SECURITY,
)
async def post_outcomes(body: OutcomeBody, services: Ingesting) -> Response:
    """Which model served a request and how it went; A/B tests are decided on these."""
    events = body.events if isinstance(body, OutcomeBatch) else [body]
    check_event_times(events, services.settings.event_time_max_future_s, body is not events[0])
    await require_known_models(services, events, body is not events[0])
    records = [event.to_record() for event in events]
    await services.publish(INFERENCE_OUTCOMES_TOPIC, records, INFERENCE_OUTCOME)
    return accepted(records)


def accepted(records: Sequence[Record]) -> Response:
    """The 202 body (:class:`IngestAccepted`), serialised here: a returned model would be
    validated against the response model again and then serialised, for the same bytes."""
    body = {"accepted": len(records), "event_ids": [r["event_id"] for r in records]}
    return Response(orjson.dumps(body), 202, media_type="application/json")


async def require_known_models(
    services: ApiServices, events: Sequence[FeedbackIn | OutcomeIn], batched: bool
) -> None:
    """A 422 naming each event's ``model_id`` that no ``models`` row has."""
    unknown = await services.known_models.unknown(
        services.repos.models, {event.model_id for event in events}
    )
    errors = [
        {
            "type": "value_error",
            "loc": ["body", "events", index, "model_id"] if batched else ["body", "model_id"],
            "msg": f"unknown model {event.model_id!r}: register it first (POST /models)",
            "input": event.model_id,
        }
        for index, event in enumerate(events)
        if event.model_id in unknown
    ]
    if errors:
        raise RequestValidationError(errors)


_STATS_ERRORS: Responses = {404: {"description": "No feedback seen for that model yet."}}


@router.get("/feedback/stats", responses=_STATS_ERRORS, summary="Rolling feedback statistics")
async def feedback_stats(
    services: Services,
    _: Admin,
    model_id: ModelFilter = None,
    fresh: Fresh = False,
) -> FeedbackStats:
    """Per model, overall and per transformation type, as the stream agents keep them."""
    reader = services.feedback_stats
    if reader is None:
        msg = "the feedback statistics are not available (the app was not started)"
        raise BrokerError(msg)
    if fresh:
        await reader.sync()
    ids = [model_id] if model_id is not None else reader.models()
    found = {mid: stats for mid in ids if (stats := reader.model(mid)) is not None}
    if model_id is not None and not found:
        msg = f"no feedback seen for model {model_id!r} yet"
        raise NotFoundError(msg)
    return FeedbackStats.model_validate({"models": found})
