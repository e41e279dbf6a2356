"""The live view of a demo run (rich), and its plain-text stand-in for logs and pipes."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from tonebridge.demo.story import Story
from tonebridge.demo.summary import ab_line, duration, registered_line

TIMELINE_LINES = 9


def _number(value: object, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _role(story: Story, model_id: str) -> str:
    roles = []
    if model_id == story.production:
        roles.append("production")
    if story.test is not None and story.verdict is None:
        roles += [a["arm_id"] for a in story.test["arms"] if a["model_id"] == model_id]
    return ", ".join(roles)


def traffic_table(story: Story) -> Table:
    table = Table(title="Traffic and feedback (worker's rolling stats)", expand=True)
    for column in ("model", "role", "served", "feedback", "mean rating", "corrected"):
        table.add_column(column, justify="left" if column in ("model", "role") else "right")
    for model_id in sorted(set(story.served) | set(story.feedback), key=story.label):
        stats = story.feedback.get(model_id, {})
        table.add_row(
            story.label(model_id),
            _role(story, model_id),
            str(story.served.get(model_id, 0)),
            str(stats.get("count", 0)),
            _number(stats.get("mean_rating"), ".2f"),
            _number(stats.get("correction_rate"), ".0%"),
        )
    return table


def training_panel(story: Story) -> RenderableType:
    trigger, job = story.trigger, story.training
    if trigger is None:
        return Text("waiting for a retraining policy to fire ...", style="dim")
    lines: list[RenderableType] = [Text(f"{trigger['requested_by']}: {trigger['reason']}")]
    if job is not None:
        total = max(job.total_steps, 1)
        loss = f", loss {job.loss:.3f}" if job.loss is not None else ""
        row = Table.grid(padding=(0, 2))
        row.add_row(
            ProgressBar(total=total, completed=min(job.step, total), width=40),
            Text(f"job {job.job_id[:8]} {job.status}: step {job.step}/{job.total_steps}{loss}"),
        )
        lines.append(row)
    if story.registered is not None:
        lines.append(Text(registered_line(story) or "", style="green"))
    return Group(*lines)


def ab_table(story: Story) -> RenderableType:
    test = story.test
    if test is None:
        return Text("no A/B test yet", style="dim")
    caption = ab_line(story) if story.verdict is not None else "running: no decision yet"
    table = Table(title=f"A/B test {test['test_id'][:20]}", caption=caption, expand=True)
    for column in (
        "arm",
        "model",
        "samples",
        "success",
        "mean rating",
        "p (rating)",
        "p (success)",
    ):
        table.add_column(column, justify="left" if column in ("arm", "model") else "right")
    for arm in test["arms"]:
        live = story.arms.get(arm["arm_id"])
        p = {m: story.p_values.get(f"{arm['arm_id']}/{m}") for m in ("rating", "success")}
        table.add_row(
            arm["arm_id"],
            story.label(arm["model_id"]),
            str(live.samples if live else 0),
            _number(live.success_rate if live else None, ".0%"),
            _number(live.mean_rating if live else None, ".2f"),
            _number(p["rating"], ".2g"),
            _number(p["success"], ".2g"),
        )
    return table


def timeline(story: Story) -> Text:
    text = Text()
    for at_s, line in story.timeline[-TIMELINE_LINES:]:
        text.append(f"{duration(at_s):>6}  ", style="dim")
        text.append(line + "\n")
    return text


def render(story: Story, elapsed_s: float, notes: list[str]) -> RenderableType:
    """The whole screen at one moment."""
    header = Text(f"tonebridge demo  {duration(elapsed_s)}\n", style="bold")
    header.append("\n".join(notes), style="dim")
    return Group(
        header,
        traffic_table(story),
        Panel(training_panel(story), title="Retraining"),
        ab_table(story),
        Panel(timeline(story), title="What happened"),
    )


def plain_line(at_s: float, line: str) -> str:
    """One timeline line for a log or a pipe."""
    return f"[{duration(at_s):>6}] {line}"
