"""docker-compose.kafka.yml, checked without a Docker engine: services, health, settings."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from tonebridge.settings import Settings

COMPOSE = Path(__file__).parents[3] / "docker-compose.kafka.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return parsed["services"]


def tonebridge_services(services: dict[str, Any]) -> dict[str, Any]:
    return {
        name: service
        for name, service in services.items()
        if str(service.get("image", "")).startswith("tonebridge")
    }


def test_the_stack_has_kafka_postgres_mlflow_and_a_topics_job(services: dict[str, Any]) -> None:
    assert {"kafka", "postgres", "mlflow", "topics"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]


@pytest.mark.parametrize("name", ["kafka", "postgres", "mlflow"])
def test_every_server_has_a_healthcheck(services: dict[str, Any], name: str) -> None:
    check = services[name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert check["retries"] >= 3


def test_the_topics_job_runs_once_after_kafka_is_healthy(services: dict[str, Any]) -> None:
    job = services["topics"]
    assert job["command"][:2] == ["topics", "create"]
    assert job["restart"] == "no"
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert job["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"


def test_tonebridge_services_set_only_settings_fields(services: dict[str, Any]) -> None:
    ours = tonebridge_services(services)
    assert "topics" in ours
    known = {name.upper() for name in Settings.model_fields}
    for name, service in ours.items():
        unknown = set(service["environment"]) - known
        assert not unknown, f"{name} sets variables Settings does not read: {sorted(unknown)}"


def test_tonebridge_services_reach_the_stack_by_service_name(services: dict[str, Any]) -> None:
    for service in tonebridge_services(services).values():
        env = service["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] in services
        assert env["POSTGRES_HOST"] in services
        assert env["MLFLOW_TRACKING_URI"].split("//")[1].split(":")[0] in services
        assert env["POSTGRES_DB"] == services["postgres"]["environment"]["POSTGRES_DB"]
        assert env["POSTGRES_USER"] == services["postgres"]["environment"]["POSTGRES_USER"]


def test_the_broker_does_not_auto_create_topics(services: dict[str, Any]) -> None:
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_the_kraft_cluster_id_is_a_base64_uuid(services: dict[str, Any]) -> None:
    cluster_id = services["kafka"]["environment"]["CLUSTER_ID"]
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
