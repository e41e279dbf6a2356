"""The demo's terminal: the live view (or plain timeline lines), and its own log file."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

from rich.console import Console
from rich.live import Live

from tonebridge.demo.display import plain_line, render
from tonebridge.demo.story import Story

REFRESH_S = 0.25


@contextlib.contextmanager
def screen(
    console: Console, story: Story, plain: bool, clock: Callable[[], float], notes: list[str]
) -> Iterator[Callable[[], None]]:
    """A refresh function for the live view (or, when plain, printing new timeline lines)."""
    if plain or not console.is_terminal:
        printed = 0

        def print_new() -> None:
            nonlocal printed
            for at_s, line in story.timeline[printed:]:
                console.print(plain_line(at_s, line), markup=False, highlight=False, soft_wrap=True)
            printed = len(story.timeline)

        yield print_new
        print_new()
        return
    with Live(console=console, refresh_per_second=4) as live:
        yield lambda: live.update(render(story, clock(), notes))


async def refresh(update: Callable[[], None]) -> None:
    while True:
        update()
        await asyncio.sleep(REFRESH_S)


def log_to_file(path: Path) -> None:
    """The demo's own log (and third-party chatter) goes to a file, not over the display."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.captureWarnings(True)
