"""compose.yaml, checked without a Docker engine: the Compose Specification, health, settings.

The file is interpolated from ``.env.example`` as ``docker compose`` would from ``.env``, then
parsed by ``compose-spec`` (a strict parser of the Compose Specification: unknown keys and wrong
types are errors) and validated against its models, generated from the specification's schema.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose

from tests.unit.deploy.environment import (
    API_REQUIRED,
    REQUIRED,
    assert_production,
    load,
    unknown_names,
)

ROOT = Path(__file__).parents[3]
COMPOSE = ROOT / "compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
SERVERS = {"kafka", "postgres", "redis", "mlflow", "worker", "trainer-cpu", "trainer-gpu", "api"}
JOBS = {"migrate", "topics"}
TONEBRIDGE = {"migrate", "topics", "worker", "trainer-cpu", "trainer-gpu", "api"}
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


class MissingVariable(LookupError):
    """A ``${NAME:?message}`` whose variable is unset: compose refuses to start."""


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a dotenv file; quotes around a value are removed."""
    env = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
            env[name.strip()] = value[1:-1] if quoted else value
    return env


def _substitute(text: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"]
        present = name in env and (env[name] != "" or not op.startswith(":"))
        if present:
            return env[name]
        if op.endswith("?") or not op:
            raise MissingVariable(arg or name)
        return arg

    return _VARIABLE.sub(one, text)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` in every string of ``value``."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    return _substitute(value, env) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return parsed


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def stack(raw: dict[str, Any], example_env: dict[str, str]) -> dict[str, Any]:
    interpolated: dict[str, Any] = interpolate(raw, example_env)
    return interpolated


@pytest.fixture(scope="module")
def services(stack: dict[str, Any]) -> dict[str, Any]:
    return dict(stack["services"])


def parse(stack: dict[str, Any]) -> PyCompose:
    """compose-spec's strict parse, its reference checks and its schema models."""
    compose = PyCompose.from_json(json.dumps(stack))
    compose.validate()
    compose.to_spec()
    return compose


def test_the_file_follows_the_compose_specification(stack: dict[str, Any]) -> None:
    assert set(parse(stack).service_names()) == SERVERS | JOBS


@pytest.mark.parametrize(
    ("service", "key", "value", "error"),
    [
        ("api", "restrat", "always", "restrat"),
        ("worker", "healthcheck", {"retries": "many"}, "many"),
        ("trainer-gpu", "profiles", "gpu", "expected a set"),
    ],
)
def test_the_check_refuses_what_compose_would(
    stack: dict[str, Any], service: str, key: str, value: Any, error: str
) -> None:
    broken = json.loads(json.dumps(stack))
    broken["services"][service][key] = value
    with pytest.raises(ValueError, match=error):
        parse(broken)


def test_compose_refuses_to_start_without_the_secrets(raw: dict[str, Any]) -> None:
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        interpolate(raw, {})


def test_every_variable_has_a_default_or_an_example(example_env: dict[str, str]) -> None:
    needed = {
        match["name"]
        for match in _VARIABLE.finditer(COMPOSE.read_text())
        if not (match["op"] or "").endswith("-")
    }
    assert needed
    assert needed <= set(example_env)


def test_the_example_holds_placeholders_and_dot_env_stays_out_of_git(
    example_env: dict[str, str],
) -> None:
    for name in ("POSTGRES_PASSWORD", "API_ADMIN_KEYS", "API_INGEST_KEYS"):
        assert "change-me" in example_env[name]
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_every_server_has_a_healthcheck(services: dict[str, Any], name: str) -> None:
    check = services[name]["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert check["retries"] >= 3
    assert services[name]["restart"] == "unless-stopped"


@pytest.mark.parametrize("name", sorted(JOBS))
def test_jobs_run_once_and_their_dependents_wait_for_success(
    services: dict[str, Any], name: str
) -> None:
    assert services[name]["restart"] == "no"
    assert services[name]["healthcheck"] == {"disable": True}
    dependents = [service for service in services.values() if name in service.get("depends_on", {})]
    assert dependents
    for service in dependents:
        assert service["depends_on"][name]["condition"] == "service_completed_successfully"


def test_dependents_of_servers_wait_for_health(services: dict[str, Any]) -> None:
    for service in services.values():
        for name, dependency in service.get("depends_on", {}).items():
            if name in SERVERS:
                assert dependency["condition"] == "service_healthy", name


def test_the_jobs_migrate_and_create_topics(services: dict[str, Any]) -> None:
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["topics"]["command"][:2] == ["topics", "create"]
    for name in ("worker", "api", "trainer-cpu", "trainer-gpu"):
        assert JOBS <= set(services[name]["depends_on"]), name


def test_images_are_built_from_targets_of_the_dockerfile(services: dict[str, Any]) -> None:
    targets = re.findall(r"^FROM \S+ AS (\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    built = {service["build"]["target"] for service in services.values() if "build" in service}
    assert built == {"cpu", "cuda", "mlflow"}
    assert built <= set(targets)


def test_the_trainer_has_a_cpu_and_a_gpu_profile(services: dict[str, Any]) -> None:
    cpu, gpu = services["trainer-cpu"], services["trainer-gpu"]
    assert (cpu["profiles"], gpu["profiles"]) == (["cpu"], ["gpu"])
    assert (cpu["build"]["target"], gpu["build"]["target"]) == ("cpu", "cuda")
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert "deploy" not in cpu
    assert cpu["command"][0] == gpu["command"][0] == "trainer"
    assert cpu["command"] != gpu["command"]  # each trainer id is its own (docs/trainer.md)


def test_mlflow_keeps_runs_in_postgres_and_artifacts_on_a_volume(services: dict[str, Any]) -> None:
    command = services["mlflow"]["command"].split()
    backend = command[command.index("--backend-store-uri") + 1]
    assert backend.startswith("postgresql://") and "@postgres:5432/" in backend
    database = backend.rsplit("/", 1)[1]
    init = (ROOT / "deploy/compose/postgres-init/10-mlflow.sql").read_text()
    assert f"CREATE DATABASE {database};" in init
    artifacts = command[command.index("--artifacts-destination") + 1]
    assert any(volume.endswith(f":{artifacts}") for volume in services["mlflow"]["volumes"])


@pytest.mark.parametrize("name", sorted(TONEBRIDGE))
def test_tonebridge_services_set_only_settings_fields(services: dict[str, Any], name: str) -> None:
    unknown = unknown_names(services[name]["environment"])
    assert not unknown, f"{name} sets variables Settings does not read: {sorted(unknown)}"
    required = API_REQUIRED if name == "api" else REQUIRED
    assert required <= set(services[name]["environment"])


@pytest.mark.parametrize("name", sorted(TONEBRIDGE))
def test_tonebridge_services_read_production_settings(
    services: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load(services[name]["environment"], monkeypatch)
    assert_production(settings, api=name == "api")


def test_tonebridge_services_reach_the_stack_by_service_name(services: dict[str, Any]) -> None:
    for name in TONEBRIDGE:
        env = services[name]["environment"]
        assert env["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] in services
        assert env["POSTGRES_HOST"] in services
        assert env["REDIS_HOST"] in services
        assert env["MLFLOW_TRACKING_URI"].split("//")[1].split(":")[0] in services
        assert env["POSTGRES_DB"] == services["postgres"]["environment"]["POSTGRES_DB"]
        assert env["POSTGRES_USER"] == services["postgres"]["environment"]["POSTGRES_USER"]


def published(stack: dict[str, Any]) -> list[str]:
    return [port for service in stack["services"].values() for port in service.get("ports", [])]


def test_no_port_is_published_on_all_interfaces(
    raw: dict[str, Any], example_env: dict[str, str]
) -> None:
    defaults = {k: v for k, v in example_env.items() if k != "TONEBRIDGE_BIND"}
    for env in (example_env, defaults):
        ports = published(interpolate(raw, env))
        assert ports
        for port in ports:
            host_ip, _, _ = port.rpartition(":")[0].rpartition(":")
            assert ipaddress.ip_address(host_ip).is_loopback, port


def test_no_service_shares_the_host_network(services: dict[str, Any]) -> None:
    assert all(service.get("network_mode") != "host" for service in services.values())


def test_the_broker_does_not_auto_create_topics(services: dict[str, Any]) -> None:
    assert services["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_the_kraft_cluster_id_is_a_base64_uuid(services: dict[str, Any]) -> None:
    cluster_id = services["kafka"]["environment"]["CLUSTER_ID"]
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
