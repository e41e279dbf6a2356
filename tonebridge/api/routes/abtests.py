"""``POST /ab-test``, ``GET /ab-test``, ``GET /ab-test/{test_id}/results``,
``POST /ab-test/{test_id}/stop``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Body

from tonebridge.api.commands import command_id_for
from tonebridge.api.deps import (
    Admin,
    Filter,
    IdempotencyKey,
    PageLimit,
    PageOffset,
    Responses,
    Services,
    TestId,
)
from tonebridge.api.routing import IdempotentRoute
from tonebridge.api.schemas.abtests import (
    ABTestAccepted,
    ABTestPage,
    ABTestRequest,
    ABTestResults,
)
from tonebridge.api.schemas.training import StopRequest
from tonebridge.api.services import ApiServices
from tonebridge.avro.codec import Record
from tonebridge.errors import ConflictError, NotFoundError, StoreError
from tonebridge.storage.records import ABTestRecord, ABTestStatus
from tonebridge.topics.abtests import AB_TEST_COMMAND, ABTEST_COMMANDS_TOPIC, abtest_command

log = logging.getLogger(__name__)
router = APIRouter(prefix="/ab-test", tags=["ab-tests"], route_class=IdempotentRoute)
_ERRORS: Responses = {404: {"description": "Unknown A/B test or model."}}


@router.post("", status_code=202, responses=_ERRORS, summary="Start an A/B test")
async def start_ab_test(
    body: ABTestRequest, services: Services, principal: Admin, key: IdempotencyKey
) -> ABTestAccepted:
    """Split traffic between model arms; the test decides on the outcomes sent to /outcomes."""
    for arm in body.arms:
        await services.repos.models.get(arm.model_id)
    test_id = command_id_for(principal, key, "/ab-test")
    existing = await _find(services, test_id)
    if existing is not None:
        return _accepted(test_id, existing.status)
    command = _create_command(test_id, body)
    await services.publish(ABTEST_COMMANDS_TOPIC, [command], AB_TEST_COMMAND)
    try:
        await _record(services, body, test_id)
    except StoreError as exc:  # the agent runs the test from the command all the same
        log.warning("A/B test %s is on Kafka but not in the database: %s", test_id, exc)
    return _accepted(test_id, "active")


@router.get("", summary="A/B tests, newest first")
async def list_ab_tests(
    services: Services,
    _: Admin,
    status: ABTestStatus | None = None,
    name: Filter = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> ABTestPage:
    tests = await services.repos.ab_tests.list(status=status, name=name, limit=limit, offset=offset)
    return ABTestPage(items=[results_of(test) for test in tests], limit=limit, offset=offset)


@router.get("/{test_id}/results", responses=_ERRORS, summary="An A/B test's state and verdict")
async def ab_test_results(test_id: TestId, services: Services, _: Admin) -> ABTestResults:
    test = await services.repos.ab_tests.get(test_id)
    return results_of(test, services.ab_tests.test(test_id) if services.ab_tests else None)


def results_of(test: ABTestRecord, live: dict[str, Any] | None = None) -> ABTestResults:
    return ABTestResults(
        test_id=test.id,
        name=test.name,
        status=test.status,
        arms=test.arms,
        metrics=test.success_metrics,
        winner_model_id=test.winner,
        verdict=test.results,
        live=live,
        created_at=test.created_at,
        completed_at=test.completed_at,
    )


@router.post(
    "/{test_id}/stop",
    status_code=202,
    responses={**_ERRORS, 409: {"description": "The test has already completed."}},
    summary="Stop an A/B test without a winner",
)
async def stop_ab_test(
    test_id: TestId,
    services: Services,
    principal: Admin,
    body: Annotated[StopRequest | None, Body()] = None,
) -> ABTestAccepted:
    test = await services.repos.ab_tests.get(test_id)
    if test.status == "completed":
        msg = f"A/B test {test_id!r} has already completed"
        raise ConflictError(msg)
    command = abtest_command(test_id=test_id, action="stop", reason=body.reason if body else None)
    await services.publish(ABTEST_COMMANDS_TOPIC, [command], AB_TEST_COMMAND)
    return ABTestAccepted(
        test_id=test_id,
        command_id=command["event_id"],
        status="stop_requested",
        results_url=f"/ab-test/{test_id}/results",
    )


def _create_command(test_id: str, body: ABTestRequest) -> Record:
    return abtest_command(
        test_id=test_id,
        action="create",
        name=body.name,
        arms=[arm.model_dump() for arm in body.arms],
        metrics=[metric.model_dump() for metric in body.metrics],
        alpha=body.alpha,
        min_samples=body.min_samples,
        control_arm=body.control_arm or body.arms[0].arm_id,
        reason=body.reason,
        max_samples=body.max_samples,
        max_duration_seconds=body.max_duration_seconds,
        idle_timeout_seconds=body.idle_timeout_seconds,
        expected_samples=body.expected_samples,
        covariate=body.covariate,
    )


def _limits(body: ABTestRequest) -> dict[str, int | None]:
    """The limits that end the test (each None: no such limit), as the row keeps them."""
    names = ("max_samples", "max_duration_seconds", "idle_timeout_seconds")
    return {name: getattr(body, name) for name in names}


def _config(body: ABTestRequest) -> dict[str, object]:
    control = body.control_arm or body.arms[0].arm_id
    config: dict[str, object] = {
        "alpha": body.alpha,
        "min_samples": body.min_samples,
        "control_arm": control,
        **_limits(body),
    }
    if body.expected_samples is not None:
        config["expected_samples"] = body.expected_samples
    if body.covariate is not None:
        config["covariate"] = body.covariate
    return config


async def _find(services: ApiServices, test_id: str) -> ABTestRecord | None:
    try:
        return await services.repos.ab_tests.get(test_id)
    except NotFoundError:
        return None


async def _record(services: ApiServices, body: ABTestRequest, test_id: str) -> None:
    await services.repos.ab_tests.create(
        name=body.name,
        model_a_id=body.arms[0].model_id,
        model_b_id=body.arms[1].model_id,
        arms=[arm.model_dump() for arm in body.arms],
        success_metrics=[metric.model_dump() for metric in body.metrics],
        config=_config(body),
        test_id=test_id,
    )


def _accepted(test_id: str, status: str) -> ABTestAccepted:
    url = f"/ab-test/{test_id}/results"
    return ABTestAccepted(test_id=test_id, command_id=test_id, status=status, results_url=url)
