"""The demo's embedded broker: a supervised child that never outlives the demo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tonebridge.broker import kafka_ready
from tonebridge.demo.stack import start_broker
from tonebridge.demo.supervise import Supervisor

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc"),
]
ROOT = Path(__file__).resolve().parents[3]


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if text.encode() in cmdline and state != "Z":
                found.append(int(entry.name))
    return found


def wait_until_gone(text: str, timeout_s: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


async def test_the_broker_answers_and_stops_with_its_supervisor(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "run")
    bootstrap = await start_broker(supervisor, tmp_path)
    await kafka_ready(bootstrap, 5.0)
    port = bootstrap.rsplit(":", 1)[1]
    assert len(processes_mentioning(f"127.0.0.1:{port}")) == 1  # tansu
    assert (tmp_path / "run" / "broker.pid").is_file()
    assert supervisor.stop_all() == {"broker": 0}  # stopped cleanly on SIGTERM
    assert wait_until_gone(f"127.0.0.1:{port}") == []


def test_a_killed_demo_takes_its_broker_along(tmp_path: Path) -> None:
    code = (
        "import asyncio, sys, time; from pathlib import Path; "
        "from tonebridge.demo.stack import start_broker; "
        "from tonebridge.demo.supervise import Supervisor; "
        f"print(asyncio.run(start_broker(Supervisor(), Path({str(tmp_path)!r}))), flush=True); "
        "time.sleep(60)"
    )
    argv = [sys.executable, "-c", code]
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True) as demo:
        assert demo.stdout is not None
        port = demo.stdout.readline().strip().rsplit(":", 1)[1]
        assert processes_mentioning(f"--port\0{port}")  # tonebridge broker
        demo.send_signal(signal.SIGKILL)  # no cleanup code runs in the demo
    assert wait_until_gone(f"127.0.0.1:{port}") == []  # tansu stopped by its parent
    assert wait_until_gone(f"--port\0{port}") == []
