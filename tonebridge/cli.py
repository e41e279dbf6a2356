"""The ``tonebridge`` command line."""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from tonebridge.errors import TonebridgeError
from tonebridge.extras import installed, requires
from tonebridge.handlers.datasets.formats import DatasetFormat as RowFormat

if TYPE_CHECKING:
    from tonebridge.settings import Settings

app = typer.Typer(help="tonebridge: event-driven continuous training for ToneBridge.")

LogJsonOption = Annotated[
    bool | None,
    typer.Option("--log-json/--log-text", help="log lines as JSON objects (default LOG_FORMAT)"),
]
MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        min=0, max=65535, help="serve /metrics and /healthz here; 0 is off (default METRICS_PORT)"
    ),
]


def _process_settings(log_json: bool | None, **overrides: object) -> Settings:
    """The settings of a long-running process: the environment's, with the options given."""
    from tonebridge.settings import load_settings

    if log_json is not None:
        overrides["log_format"] = "json" if log_json else "text"
    return load_settings(**{name: v for name, v in overrides.items() if v is not None})


@app.command()
def broker(
    port: Annotated[int | None, typer.Option(help="port on 127.0.0.1")] = None,
) -> None:
    """Run the embedded Kafka-compatible broker until Ctrl-C."""
    from tonebridge.broker import EmbeddedBroker
    from tonebridge.errors import BrokerError
    from tonebridge.settings import get_settings

    embedded = EmbeddedBroker(port or get_settings().embedded_broker_port)
    stopped = threading.Event()
    # Before the start: a SIGTERM that comes while the broker starts must still stop it.
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        embedded.start()
        typer.echo(f"embedded broker ready on {embedded.bootstrap_servers} (Ctrl-C stops it)")
        stopped.wait()
    except KeyboardInterrupt:
        pass
    except BrokerError:
        if not stopped.is_set():
            raise
        # A SIGTERM to the process group stopped the broker while it was starting: a stop.
    finally:
        embedded.stop()


db_app = typer.Typer(help="Database schema migrations (Alembic, packaged with tonebridge).")
app.add_typer(db_app, name="db")

UrlOption = Annotated[
    str | None, typer.Option("--url", help="SQLAlchemy async URL (default: from settings)")
]


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "head",
    url: UrlOption = None,
) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    with requires("worker", "api", "trainer"):
        from tonebridge.storage import migrate

    migrate.upgrade(url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision, e.g. -1 or base")],
    url: UrlOption = None,
) -> None:
    """Migrate the database down to REVISION."""
    with requires("worker", "api", "trainer"):
        from tonebridge.storage import migrate

    migrate.downgrade(url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("current")
def db_current(url: UrlOption = None) -> None:
    """Print the revision the database is at."""
    import asyncio

    with requires("worker", "api", "trainer"):
        from tonebridge.storage import migrate

    typer.echo(asyncio.run(migrate.current_revision(url)) or "base (empty database)")


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="bind address (default API_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default API_PORT)")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    log_json: LogJsonOption = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) until Ctrl-C."""
    with requires("api"):
        import uvicorn
        from uvicorn.config import LOGGING_CONFIG

        from tonebridge.api.app import create_app, settle_heap
        from tonebridge.observability.logs import json_logging_config

    settings = _process_settings(log_json, api_host=host, api_port=port)
    application = create_app(settings)  # refuses a non-loopback address without API keys
    settle_heap()
    # JSON: uvicorn's own loggers (server, access) go through the same JSON handler.
    json_lines = settings.log_format == "json"
    log_config = json_logging_config(log_level) if json_lines else LOGGING_CONFIG
    # Access lines are INFO: above that level, skip building each one only to drop it.
    access_log = log_level.lower() in ("trace", "debug", "info")
    uvicorn.run(
        application, host=settings.api_host, port=settings.api_port, log_level=log_level,
        log_config=log_config, access_log=access_log,
    )  # fmt: skip


models_app = typer.Typer(help="Follow and manage registered models.")
app.add_typer(models_app, name="models")


@models_app.command("watch")
def models_watch(
    from_beginning: Annotated[
        bool, typer.Option(help="replay every past event, not only new ones")
    ] = False,
    position_file: Annotated[
        Path | None, typer.Option(help="JSON file to resume from and to save progress in")
    ] = None,
    name: Annotated[list[str] | None, typer.Option(help="only this registered model")] = None,
    limit: Annotated[int | None, typer.Option(help="stop after this many events")] = None,
) -> None:
    """Print ModelRegistered and ModelChanged events as they arrive (Ctrl-C stops)."""
    import asyncio

    from tonebridge.client.watch_cli import print_events
    from tonebridge.settings import get_settings

    watching = print_events(
        get_settings(),
        from_beginning=from_beginning,
        position_file=position_file,
        names=set(name) if name else None,
        limit=limit,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(watching)


datasets_app = typer.Typer(help="Training datasets: import files, list what is stored.")
app.add_typer(datasets_app, name="datasets")
# storage.records.DatasetType, spelled here so the CLI starts without SQLAlchemy (a test
# holds the two together)
DatasetType = Literal["training", "validation", "test", "feedback"]


def _dataset_settings(url: str | None) -> Settings:
    from tonebridge.settings import load_settings

    return load_settings(database_url=url) if url else load_settings()


@datasets_app.command("import")
def datasets_import(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="*.json, *.jsonl, *.csv, *.parquet")
    ],
    row_format: Annotated[
        RowFormat,
        typer.Option("--format", help="rows of this shape, or feedback rows to build them from"),
    ] = "sft",
    name: Annotated[str | None, typer.Option(help="default: the file's name")] = None,
    url: UrlOption = None,
) -> None:
    """Check, clean, split and store FILE as a dataset (POST /datasets does the same)."""
    import asyncio

    with requires("api", "trainer"):
        from tonebridge.errors import InvalidRowsError
        from tonebridge.handlers.datasets.commands import import_dataset

    try:
        built = asyncio.run(import_dataset(_dataset_settings(url), file, row_format, name))
    except InvalidRowsError as exc:
        for row, field, message in exc.problems:
            typer.echo(f"row {row}, {field}: {message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"imported {built.dataset_id}: {len(built.train)} training and "
        f"{len(built.validation)} validation {row_format} rows"
    )


@datasets_app.command("list")
def datasets_list(
    type: Annotated[DatasetType | None, typer.Option(help="only datasets of this type")] = None,
    name: Annotated[str | None, typer.Option(help="only datasets of this name")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    url: UrlOption = None,
) -> None:
    """Print stored datasets, newest first: id, type, row format, rows, created, name."""
    import asyncio

    with requires("api", "trainer"):
        from tonebridge.handlers.datasets.commands import describe, list_datasets

    found = asyncio.run(
        list_datasets(_dataset_settings(url), type=type, name=name, limit=limit, offset=offset)
    )
    for dataset in found:
        typer.echo(describe(dataset))


@models_app.command("register")
def models_register(
    kind: Annotated[str, typer.Argument(help="base or adapter")],
    source: Annotated[
        str, typer.Argument(help="base: a hub id or local folder; adapter: its local folder")
    ],
    name: Annotated[str, typer.Option(help="the registered model name")],
    base_model: Annotated[
        str | None, typer.Option(help="an adapter's base model (default: from its config)")
    ] = None,
    model_type: Annotated[str, typer.Option(help="what the model does")] = "tone_adjustment",
    version: Annotated[str | None, typer.Option(help="default: base, or ext-<digest>")] = None,
    model_id: Annotated[str | None, typer.Option(help="default: from name and version")] = None,
    url: UrlOption = None,
) -> None:
    """Register a base model or an external PEFT adapter; announce it (ModelRegistered)."""
    import asyncio
    import json

    with requires("api", "trainer"):
        from tonebridge.registration import register_with, registration_spec
        from tonebridge.settings import load_settings

    settings = load_settings(**({"database_url": url} if url else {}))
    spec = registration_spec(
        kind=kind, name=name, source=source, base_model=base_model, model_type=model_type,
        version=version, model_id=model_id,
    )  # fmt: skip
    done = asyncio.run(register_with(settings, spec))
    model = done.model
    shown = {"model_id": model.id, "name": model.name, "version": model.version,
             "status": model.status, "path": model.path, "base_model": model.base_model,
             "event_id": done.event["event_id"]}  # fmt: skip
    typer.echo(json.dumps(shown))


topics_app = typer.Typer(help="Kafka topics.")
app.add_typer(topics_app, name="topics")


@topics_app.command("create")
def topics_create(
    timeout: Annotated[float, typer.Option(help="seconds to wait for the broker")] = 60.0,
) -> None:
    """Create every tonebridge topic that does not exist yet (safe to run again)."""
    import asyncio

    from tonebridge.settings import load_settings
    from tonebridge.topics.admin import create_topics

    settings = load_settings()
    report = asyncio.run(create_topics(settings, timeout_s=timeout))
    for name in report.created:
        typer.echo(f"created  {name}")
    for name in report.existing:
        typer.echo(f"exists   {name}")
    for name, wanted, actual in report.mismatched:
        typer.echo(f"warning: {name} has {actual} partitions, expected {wanted}", err=True)


@app.command()
def trainer(
    worker_id: Annotated[
        str | None, typer.Option(help="stable id of this trainer (default: trainer-<host>)")
    ] = None,
    registry: Annotated[
        bool, typer.Option(help="also apply model commands (deploy/rollback/archive)")
    ] = True,
    metrics_port: MetricsPortOption = None,
    log_json: LogJsonOption = None,
) -> None:
    """Consume training commands (one job at a time), stop broadcasts and model commands."""
    import asyncio
    import socket

    with requires("trainer"):
        installed("torch", "transformers", "peft", "trl")  # loaded by the first job, not here
        from tonebridge.handlers.trainer.service import TrainerOptions, run_service
        from tonebridge.observability.logs import configure

    settings = _process_settings(log_json, metrics_port=metrics_port)
    configure(settings.log_format == "json")
    options = TrainerOptions(
        worker_id=worker_id or f"trainer-{socket.gethostname()}", registry=registry
    )
    asyncio.run(run_service(settings, options))


@app.command()
def worker(
    stats: Annotated[bool, typer.Option(help="run the statistics agent")] = True,
    abtests: Annotated[bool, typer.Option(help="run the A/B test agent")] = True,
    sink: Annotated[bool, typer.Option(help="store feedback in the database")] = True,
    promotion: Annotated[
        bool, typer.Option(help="A/B test better models against production; deploy winners")
    ] = True,
    loglevel: Annotated[str, typer.Option(help="faust log level")] = "info",
    metrics_port: MetricsPortOption = None,
    log_json: LogJsonOption = None,
) -> None:
    """Run the stream worker (faust agents) until SIGTERM or Ctrl-C."""
    with requires("worker"):
        from tonebridge.agents.app import Roles
        from tonebridge.agents.worker import run_worker

    roles = Roles(stats=stats, abtests=abtests, sink=sink, promotion=promotion)
    run_worker(_process_settings(log_json, metrics_port=metrics_port), roles, loglevel)


@app.command()
def demo(
    quick: Annotated[bool, typer.Option(help="smaller and faster (lower thresholds)")] = False,
    data_dir: Annotated[
        Path | None, typer.Option(help="where the run keeps its state (default DATA_DIR/demo)")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="where the base model is built once (DATA_DIR/cache)")
    ] = None,
    keep: Annotated[bool, typer.Option(help="continue from the data dir, not afresh")] = False,
    plain: Annotated[bool, typer.Option(help="log lines instead of the live view")] = False,
    rate: Annotated[float | None, typer.Option(help="simulated requests per second")] = None,
    policies: Annotated[
        Path | None, typer.Option(help="retraining and promotion policies (YAML)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds for the loop to close")] = 900.0,
    rounds: Annotated[
        int, typer.Option(min=1, help="retraining rounds; after the first the users' needs shift")
    ] = 1,
) -> None:
    """Run the whole loop on this machine with a simulated app and a live view (Ctrl-C stops)."""
    from dataclasses import replace

    with requires("all"):
        from tonebridge.demo.options import DemoOptions
        from tonebridge.demo.options import quick as quick_options
        from tonebridge.demo.run import main as run_demo
        from tonebridge.settings import get_settings

    settings = get_settings()
    options = DemoOptions(
        data_dir=data_dir or settings.data_dir / "demo",
        cache_dir=cache_dir or settings.data_dir / "cache",
        keep=keep,
        plain=plain,
        timeout_s=timeout,
        rounds=rounds,
    )
    options = quick_options(options) if quick else options
    if rate is not None:
        options = replace(options, requests_per_s=rate)
    if policies is not None:
        options = replace(options, policies=policies)
    raise typer.Exit(run_demo(options, settings))


def main() -> None:
    """Entry point: turn tonebridge errors into a message and exit status 2."""
    try:
        app()
    except TonebridgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
