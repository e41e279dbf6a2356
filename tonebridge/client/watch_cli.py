"""``tonebridge models watch``: print registry events with rich, optionally resumable."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Collection
from pathlib import Path

from rich.console import Console
from rich.text import Text

from tonebridge.client.watch import ModelEvent, Position, watch_models
from tonebridge.settings import Settings

_STYLE = {"deployed": "green", "rolled_back": "yellow", "archived": "dim", None: "cyan"}


def load_position(path: Path | None) -> Position | None:
    if path is None or not path.exists():
        return None
    return {
        int(partition): int(offset) for partition, offset in json.loads(path.read_text()).items()
    }


def save_position(path: Path, position: Position) -> None:
    """Write-then-rename, so a crash never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({str(p): o for p, o in sorted(position.items())}))
    os.replace(tmp, path)


def render(event: ModelEvent) -> Text:
    record = event.record
    label = event.change or "registered"
    line = Text()
    line.append(f"{record['event_time']:%Y-%m-%d %H:%M:%S}Z ", style="dim")
    line.append(f"{label:<11} ", style=_STYLE.get(event.change, "cyan"))
    line.append(f"{record['name']} v{record['version']} ", style="bold")
    line.append(f"({record['model_id']})")
    if event.change is not None:
        line.append(f" alias={record['alias']}")
        if record.get("previous_model_id"):
            line.append(f" previous={record['previous_model_id']}")
    line.append(f" {record['artifact_uri']}", style="dim")
    return line


async def print_events(
    settings: Settings,
    *,
    from_beginning: bool,
    position_file: Path | None,
    names: Collection[str] | None,
    limit: int | None = None,
    console: Console | None = None,
) -> int:
    """Print events until ``limit`` (or forever); return how many were printed."""
    out = console or Console()
    stream = watch_models(
        settings,
        position=load_position(position_file),
        from_beginning=from_beginning,
        names=names,
    )
    printed = 0
    async with contextlib.aclosing(stream) as events:
        async for event in events:
            out.print(render(event), soft_wrap=True)  # one line per event, greppable
            if position_file is not None:
                save_position(position_file, event.position)
            printed += 1
            if limit is not None and printed >= limit:
                break
    return printed
