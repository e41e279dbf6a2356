"""Child processes of the demo: started with a log file, watched, and always stopped.

Each child runs in its own session (process group), so the terminal's Ctrl-C reaches only
the demo, which then stops the children in order; stopping signals the whole group, so a
child's own children go too. On Linux each child also asks the kernel for a signal when the
thread that started it dies (``PR_SET_PDEATHSIG``; SIGKILL unless the spec says otherwise): a
demo killed with SIGKILL leaves no orphans either. Start children from the main thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

PR_SET_PDEATHSIG = 1
DAEMON_THREAD = "tonebridge-demo-build"
A = TypeVar("A")
R = TypeVar("R")


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: tuple[str, ...]
    log_path: Path
    env: Mapping[str, str] | None = None  # None: inherit the demo's environment
    # Sent by the kernel if the demo dies without stopping its children (killed, crashed).
    # SIGKILL by default: a service told to stop gracefully after its broker died with the
    # demo may wait for that broker forever. The broker itself gets SIGTERM, to stop cleanly.
    orphan_signal: int = signal.SIGKILL
    stops_last: bool = False  # after every other child: what they need to stop (the broker)


def tonebridge_argv(*args: str) -> tuple[str, ...]:
    """``python -m tonebridge.cli ARGS`` with the demo's own interpreter."""
    return (sys.executable, "-m", "tonebridge.cli", *args)


def child_environment(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """The environment a child gets: the demo's, with the stack's settings on top."""
    return {**base, **overrides}


def _die_with_parent(signum: int) -> None:  # pragma: no cover - in the child before exec
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signum)


class Child:
    """One started child process."""

    def __init__(self, spec: ChildSpec, proc: subprocess.Popen[bytes]) -> None:
        self.spec = spec
        self.proc = proc

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.spec.log_path, lines)

    def terminate(self) -> None:
        """SIGTERM to the child's process group."""
        if self.running:
            _signal_group(self.pid, signal.SIGTERM)

    def reap(self, deadline: float) -> int:
        """Wait for the exit until ``deadline`` (monotonic), then SIGKILL what is left of the
        group (the child, or stragglers it left); the child's exit status."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(max(deadline - time.monotonic(), 0.0))
        _signal_group(self.pid, signal.SIGKILL)
        return self.proc.wait()

    def stop(self, timeout_s: float) -> int:
        """SIGTERM to the child's group, SIGKILL after ``timeout_s``; its exit status."""
        self.terminate()
        return self.reap(time.monotonic() + timeout_s)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def start_child(spec: ChildSpec, pid_dir: Path | None = None) -> Child:
    """Start ``spec`` in a new session with stdout and stderr to its log file."""
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    with spec.log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - argv built by tonebridge, no shell
            list(spec.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(spec.env) if spec.env is not None else None,
            start_new_session=True,
            preexec_fn=(
                functools.partial(_die_with_parent, spec.orphan_signal)
                if sys.platform == "linux"
                else None
            ),
        )
    if pid_dir is not None:
        pid_dir.mkdir(parents=True, exist_ok=True)
        (pid_dir / f"{spec.name}.pid").write_text(f"{proc.pid}\n", encoding="utf-8")
    return Child(spec, proc)


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log file ("" if there is none)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """The demo's children; :meth:`stop_all` stops them."""

    def __init__(self, pid_dir: Path | None = None) -> None:
        self.pid_dir = pid_dir
        self.children: list[Child] = []

    def start(self, spec: ChildSpec) -> Child:
        child = start_child(spec, self.pid_dir)
        self.children.append(child)
        return child

    def exited(self) -> list[Child]:
        """Children that are no longer running (none should, before the demo ends)."""
        return [child for child in self.children if not child.running]

    def stop_all(self, timeout_s: float = 15.0) -> dict[str, int]:
        """Stop every child, all at once, then those that stop last; exit statuses by name.

        Each wave gets SIGTERM together and ``timeout_s`` to exit before SIGKILL, so a stop
        takes as long as the slowest child, not the sum of all.
        """
        statuses: dict[str, int] = {}
        for last in (False, True):
            wave = [child for child in reversed(self.children) if child.spec.stops_last is last]
            for child in wave:
                child.terminate()
            deadline = time.monotonic() + timeout_s
            statuses.update((child.name, child.reap(deadline)) for child in wave)
        return statuses


async def in_daemon_thread(function: Callable[[A], R], argument: A) -> R:
    """``function(argument)`` in a daemon thread: unlike ``asyncio.to_thread``, a Ctrl-C
    need not wait for it (a first build of the base model takes half a minute)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[R] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.done():
            outcome()

    def work() -> None:
        outcome: Callable[[], None]
        try:
            outcome = functools.partial(done.set_result, function(argument))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome = functools.partial(done.set_exception, exc)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=work, name=DAEMON_THREAD, daemon=True).start()
    return await done


def daemon_threads_alive() -> bool:
    """Whether an :func:`in_daemon_thread` call is still running (cancelled, not finished)."""
    return any(t.name == DAEMON_THREAD and t.is_alive() for t in threading.enumerate())
