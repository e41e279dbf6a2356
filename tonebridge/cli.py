"""The ``tonebridge`` command line."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from tonebridge.errors import TonebridgeError

app = typer.Typer(help="tonebridge: event-driven continuous training for ToneBridge.")


@app.command()
def broker(
    port: Annotated[int | None, typer.Option(help="port on 127.0.0.1")] = None,
) -> None:
    """Run the embedded Kafka-compatible broker until Ctrl-C."""
    from tonebridge.broker import EmbeddedBroker
    from tonebridge.settings import get_settings

    embedded = EmbeddedBroker(port or get_settings().embedded_broker_port)
    embedded.start()
    typer.echo(f"embedded broker ready on {embedded.bootstrap_servers} (Ctrl-C stops it)")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        embedded.stop()


@app.command()
def worker(
    stats: Annotated[bool, typer.Option(help="run the statistics agent")] = True,
    abtests: Annotated[bool, typer.Option(help="run the A/B test agent")] = True,
    sink: Annotated[bool, typer.Option(help="store feedback in the database")] = True,
    loglevel: Annotated[str, typer.Option(help="faust log level")] = "info",
) -> None:
    """Run the stream worker (faust agents) until SIGTERM or Ctrl-C."""
    from tonebridge.agents.app import Roles
    from tonebridge.agents.worker import run_worker
    from tonebridge.settings import get_settings

    run_worker(get_settings(), Roles(stats=stats, abtests=abtests, sink=sink), loglevel)


def main() -> None:
    """Entry point: turn tonebridge errors into a message and exit status 2."""
    try:
        app()
    except TonebridgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
