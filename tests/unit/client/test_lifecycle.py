from __future__ import annotations

import threading

import pytest

from tonebridge.client.lifecycle import AsyncClient, SyncClient


class Recorder(AsyncClient):
    """A client that records its calls and the thread each ran on."""

    def __init__(self, *, fail_start: bool = False) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail_start = fail_start

    async def start(self) -> None:
        self.calls.append(("start", threading.current_thread().name))
        if self.fail_start:
            msg = "no broker"
            raise ConnectionError(msg)

    async def close(self) -> None:
        self.calls.append(("close", threading.current_thread().name))


def threads_named(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_starts_on_its_own_thread_and_with_closes_it_once() -> None:
    client = Recorder()
    with SyncClient(client, "lifecycle-a") as sync:
        assert threads_named("lifecycle-a")
    sync.close()  # a second close does nothing
    assert client.calls == [("start", "lifecycle-a"), ("close", "lifecycle-a")]
    assert not threads_named("lifecycle-a")


def test_a_failed_start_raises_and_leaves_no_thread() -> None:
    with pytest.raises(ConnectionError, match="no broker"):
        SyncClient(Recorder(fail_start=True), "lifecycle-b")
    assert not threads_named("lifecycle-b")
