"""One demo run's shared state: the story so far, the clock, the services, the end."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from rich.console import Console

from tonebridge.demo.options import DemoOptions
from tonebridge.demo.story import Story
from tonebridge.demo.supervise import Supervisor
from tonebridge.storage.records import ModelRecord


class DemoFailed(Exception):
    """The loop cannot close: a service died, or the time ran out."""


@dataclass
class Run:
    options: DemoOptions
    console: Console
    supervisor: Supervisor  # every child process of the run: broker and services
    started: float = field(default_factory=time.monotonic)
    story: Story = field(default_factory=Story)
    notes: list[str] = field(default_factory=list)
    base: ModelRecord | None = None  # the base model's row
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def clock(self) -> float:
        return time.monotonic() - self.started

    def check_closed(self) -> None:
        """The loop is closed once the promoted model's deployment reached downstream."""
        if self.story.promoted is not None:
            self.closed.set()

    def say(self, text: str) -> None:
        self.story.note(self.clock(), text)


# --- the services ---------------------------------------------------------------------------
