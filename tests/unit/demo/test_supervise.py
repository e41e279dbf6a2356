"""Process supervision: children get logs and pid files and are always stopped, groups too."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tonebridge.demo.supervise import (
    ChildSpec,
    Supervisor,
    child_environment,
    daemon_threads_alive,
    in_daemon_thread,
    log_tail,
    tonebridge_argv,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups, /proc")


def python(name: str, code: str, tmp_path: Path, env: dict[str, str] | None = None) -> ChildSpec:
    return ChildSpec(name, (sys.executable, "-c", code), tmp_path / f"{name}.log", env)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


READY = "import sys, time; print('ready', flush=True); time.sleep(60)"
IGNORES_TERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


def test_a_child_logs_to_its_file_and_leaves_a_pid_file(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "run")
    child = supervisor.start(python("echo", "print('hello from the child')", tmp_path))
    assert child.proc.wait(10) == 0
    assert log_tail(tmp_path / "echo.log") == "hello from the child"
    assert (tmp_path / "run" / "echo.pid").read_text().strip() == str(child.pid)
    assert supervisor.exited() == [child]


def test_the_environment_given_is_the_one_the_child_sees(tmp_path: Path) -> None:
    env = child_environment({"PATH": "/usr/bin"}, {"TONEBRIDGE_DEMO_MARK": "42"})
    code = "import os; print(os.environ['TONEBRIDGE_DEMO_MARK'])"
    child = Supervisor().start(python("env", code, tmp_path, env))
    assert child.proc.wait(10) == 0
    assert child.log_tail() == "42"


def test_stop_all_terminates_in_reverse_order_and_kills_the_stubborn(tmp_path: Path) -> None:
    supervisor = Supervisor()
    polite = supervisor.start(python("polite", READY, tmp_path))
    stubborn = supervisor.start(python("stubborn", IGNORES_TERM, tmp_path))
    wait_for(lambda: "ready" in stubborn.log_tail() and "ready" in polite.log_tail())
    started = time.monotonic()
    statuses = supervisor.stop_all(timeout_s=0.5)
    assert list(statuses) == ["stubborn", "polite"]
    assert statuses == {"stubborn": -signal.SIGKILL, "polite": -signal.SIGTERM}
    assert time.monotonic() - started < 5
    assert not alive(polite.pid) and not alive(stubborn.pid)


def test_children_stop_together_and_the_last_ones_after(tmp_path: Path) -> None:
    supervisor = Supervisor()
    base = python("base", READY, tmp_path)
    supervisor.start(ChildSpec(base.name, base.argv, base.log_path, stops_last=True))
    slow = [supervisor.start(python(f"slow{i}", IGNORES_TERM, tmp_path)) for i in range(3)]
    wait_for(lambda: all("ready" in c.log_tail() for c in supervisor.children))
    started = time.monotonic()
    statuses = supervisor.stop_all(timeout_s=1.0)
    took = time.monotonic() - started
    assert list(statuses) == ["slow2", "slow1", "slow0", "base"]
    assert all(statuses[c.name] == -signal.SIGKILL for c in slow)
    assert statuses["base"] == -signal.SIGTERM
    assert 1.0 <= took < 2.9  # one timeout for the three, not three in a row


def test_stopping_a_child_stops_its_own_children(tmp_path: Path) -> None:
    code = (
        "import subprocess, sys, time; "
        f"p = subprocess.Popen([sys.executable, '-c', {IGNORES_TERM!r}]); "
        "print(p.pid, flush=True); time.sleep(60)"
    )
    supervisor = Supervisor()
    parent = supervisor.start(python("parent", code, tmp_path))
    # the grandchild writes to the same log ("ready"): the pid is the first line
    wait_for(lambda: parent.log_tail().split("\n", 1)[0].isdigit())
    grandchild = int(parent.log_tail().split("\n", 1)[0])
    assert alive(grandchild)
    supervisor.stop_all(timeout_s=0.5)
    wait_for(lambda: not alive(grandchild))


def test_a_child_is_killed_when_the_demo_dies(tmp_path: Path) -> None:
    # The "demo" starts a child and is then killed with SIGKILL: no cleanup code runs. The
    # child ignores SIGTERM: only the default orphan signal, SIGKILL, ends it.
    spec = (
        f"ChildSpec('c', (sys.executable, '-c', {IGNORES_TERM!r}), "
        f"Path({str(tmp_path / 'c.log')!r}))"
    )
    code = (
        "import sys, time; sys.path.insert(0, '.'); "
        "from pathlib import Path; from tonebridge.demo.supervise import *; "
        f"c = start_child({spec}); print(c.pid, flush=True); time.sleep(60)"
    )
    demo = Supervisor().start(python("demo", code, tmp_path))
    wait_for(lambda: demo.log_tail().strip().isdigit())
    child = int(demo.log_tail().strip())
    os.kill(demo.pid, signal.SIGKILL)
    demo.proc.wait(10)
    wait_for(lambda: not alive(child))


def test_children_run_the_tonebridge_cli_with_this_interpreter() -> None:
    assert tonebridge_argv("worker") == (sys.executable, "-m", "tonebridge.cli", "worker")


async def test_a_daemon_thread_hands_back_its_result_or_its_error() -> None:
    assert await in_daemon_thread(lambda x: x * 2, 21) == 42
    with pytest.raises(ZeroDivisionError):
        await in_daemon_thread(lambda x: 1 / x, 0)


async def test_cancelling_does_not_wait_for_the_daemon_thread() -> None:
    release = threading.Event()
    task = asyncio.create_task(in_daemon_thread(release.wait, 30.0))
    await asyncio.sleep(0.05)
    assert daemon_threads_alive()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task  # at once, although the thread still waits
    assert daemon_threads_alive()
    release.set()
    wait_for(lambda: not daemon_threads_alive())
