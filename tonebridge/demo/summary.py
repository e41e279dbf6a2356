"""The closing summary of a demo run: what was trained on what, the A/B result, the gain (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tonebridge.decisions.promotion import p_text
from tonebridge.demo.needs import NEW_TONE, OLD_TONES
from tonebridge.demo.story import Story


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"


def _when(moment: datetime | None) -> str:
    return "?" if moment is None else moment.strftime("%H:%M:%S")


def trained_line(story: Story) -> str:
    registered, trigger, job = story.registered, story.trigger, story.training
    if registered is None:
        return "Trained: nothing (no model was registered)"
    kind = trigger["kind"] if trigger is not None else registered["model_type"]
    line = (
        f"Trained: {kind} job {registered['job_id'][:8]} on "
        f"{registered['feedback_count']} feedback events "
        f"({_when(registered['feedback_from'])} to {_when(registered['feedback_to'])} UTC)"
    )
    if trigger is not None:
        line += f", requested by {trigger['requested_by']} ({trigger['reason']})"
    if job is not None and job.started_s is not None and job.ended_s is not None:
        line += f"; {job.step} steps in {duration(job.ended_s - job.started_s)}"
    return line


def registered_line(story: Story) -> str | None:
    registered = story.registered
    if registered is None:
        return None
    metrics: Mapping[str, float] = registered.get("metrics") or {}
    line = f"Registered: {registered['name']} {story.label(str(registered['model_id']))}"
    if "chrf" in metrics and "baseline_chrf" in metrics:
        line += (
            f"; trainer's held-out chrF {metrics['baseline_chrf']:.1f} (parent) -> "
            f"{metrics['chrf']:.1f}"
        )
    low, high = (
        metrics.get("vs_baseline_chrf_delta_ci_low"),
        metrics.get("vs_baseline_chrf_delta_ci_high"),
    )
    if low is not None and high is not None:
        line += f" (paired bootstrap 95% CI of the gain {low:+.1f}..{high:+.1f})"
    return line


def ab_line(story: Story) -> str:
    verdict, test = story.verdict, story.test
    if test is None:
        return "A/B test: none started"
    if verdict is None:
        return f"A/B test {test['test_id']}: no verdict yet"
    line = f"A/B test: {verdict['decision']}"
    if verdict.get("winner_arm"):
        line += f", {verdict['winner_arm']} ({story.label(verdict.get('winner_model_id'))}) wins"
    return line + _evidence(verdict)


def _evidence(verdict: Mapping[str, Any]) -> str:
    metric, effect = verdict.get("metric"), verdict.get("effect")
    parts = []
    if metric and effect is not None:
        parts.append(f"on {metric}: effect {effect:+.3f}")
    if verdict.get("ci_low") is not None and verdict.get("ci_high") is not None:
        parts.append(f"CI {verdict['ci_low']:+.3f}..{verdict['ci_high']:+.3f}")
    p_value = (verdict.get("p_values") or {}).get(f"{verdict.get('winner_arm')}/{metric}")
    if p_value is not None:
        parts.append(f"p{p_text(p_value)}")
    samples = verdict.get("samples") or {}
    if samples:
        parts.append("samples " + ", ".join(f"{arm} {n}" for arm, n in samples.items()))
    return (" " + "; ".join(parts)) if parts else ""


def deployed_line(story: Story) -> str:
    if story.deployed is None:
        return "Deployed: nothing"
    model = story.label(str(story.deployed["model_id"]))
    seen = "seen by the downstream watcher" if story.promoted else "not yet seen downstream"
    return f"Deployed: {model} is production ({seen})"


def held_out_line(story: Story, count: int) -> str | None:
    if story.base_model_id is None or story.promoted is None:
        return None
    base = story.held_out.get(story.base_model_id)
    new = story.held_out.get(story.promoted)
    if base is None or new is None:
        return None
    return (
        f"Held-out chrF on {count} requests no user sent: base {base:.1f} -> "
        f"{story.label(story.promoted)} {new:.1f} ({new - base:+.1f})"
    )


def round_lines(story: Story) -> list[str | None]:
    """What one round trained, tested and deployed."""
    return [trained_line(story), registered_line(story), ab_line(story), deployed_line(story)]


def scores_line(story: Story, number: int) -> str | None:
    """Round ``number``'s held-out chrF on the old and the new requests: before -> after."""
    if len(story.ladder) <= number:
        return None
    before, after = story.ladder[number - 1], story.ladder[number]
    if before not in story.scores or after not in story.scores:
        return None
    (old_0, new_0), (old_1, new_1) = story.scores[before], story.scores[after]
    was, now = story.label(before), story.label(after)
    return (
        f"Round {number} held-out chrF: old requests ({', '.join(OLD_TONES)}) {was} {old_0:.1f} "
        f"-> {now} {old_1:.1f} ({old_1 - old_0:+.1f}); new requests ({NEW_TONE}) {was} "
        f"{new_0:.1f} -> {now} {new_1:.1f} ({new_1 - new_0:+.1f})"
    )


def rounds_lines(story: Story) -> list[str | None]:
    """Every round: its header, what it did, and its held-out scores."""
    lines: list[str | None] = []
    for number, closed in enumerate([*story.past, story], start=1):
        lines.append(f"Round {number}:")
        lines.extend(f"  {line}" for line in round_lines(closed) if line is not None)
        lines.append(scores_line(story, number))
    return lines


def summary_lines(story: Story, total_s: float, held_out_count: int) -> list[str]:
    if story.past:
        lines = rounds_lines(story)
    else:
        lines = [*round_lines(story), held_out_line(story, held_out_count)]
    lines.append(f"Total time: {duration(total_s)}")
    return [line for line in lines if line is not None]
