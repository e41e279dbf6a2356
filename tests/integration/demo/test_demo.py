"""``tonebridge demo`` end to end: the loop closes, and a signal leaves no process behind.

Each test runs the real command in a subprocess on the embedded stack (broker, SQLite,
MLflow sqlite store, tiny model) with ``--quick`` sizes.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc"),
]
ROOT = Path(__file__).resolve().parents[3]
LOOP_TIMEOUT_S = 300
ROUND_TIMEOUT_S = 600


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny base model is built by the first run and reused by the next."""
    return tmp_path_factory.mktemp("demo-cache")


def demo(
    tmp_path: Path, cache_dir: Path, *extra: str, timeout_s: int = LOOP_TIMEOUT_S
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "POSTGRES_"))}
    env.update(DATA_DIR=str(tmp_path / "var"), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("DATABASE_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    argv = [sys.executable, "-m", "tonebridge.cli", "demo", "--quick", "--plain",
            "--data-dir", str(tmp_path / "demo"), "--cache-dir", str(cache_dir),
            "--timeout", str(timeout_s), *extra]  # fmt: skip
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def lines_until(proc: subprocess.Popen[str], marker: str, seen: list[str]) -> Iterator[str]:
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        yield line
        if marker in line:
            return
    pytest.fail(f"demo ended before printing {marker!r}:\n{''.join(seen)}")


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose environment or command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text.encode() in blob and state != "Z":
            found.append(int(entry.name))
    return found


def test_the_demo_closes_the_loop(tmp_path: Path, cache_dir: Path) -> None:
    proc = demo(tmp_path, cache_dir)
    try:
        output, _ = proc.communicate(timeout=LOOP_TIMEOUT_S + 120)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    summary = output.split("\nSummary\n", 1)[1]
    assert "Trained: sft job" in summary
    assert "A/B test: winner, treatment (v1) wins" in summary
    assert "Deployed: v1 is production (seen by the downstream watcher)" in summary
    base, new = _held_out(summary)
    assert new > base + 10.0, summary
    rows = _database_rows(tmp_path / "demo" / "tonebridge.db")
    # the loop goes on after the demo's story: the new model may already be retraining
    assert rows["versions"][:2] == [("base", "archived"), ("1", "production")], output
    assert rows["tests"] == [("completed",)]
    assert rows["jobs"][0] == ("completed",)
    assert processes_mentioning(str(tmp_path)) == []


def test_a_second_round_keeps_the_old_requests_and_gains_on_the_new(
    tmp_path: Path, cache_dir: Path
) -> None:
    # Each round closes its own loop; round 1 trains from scratch, the slow part on a busy CPU.
    proc = demo(tmp_path, cache_dir, "--rounds", "2", timeout_s=ROUND_TIMEOUT_S)
    try:
        output, _ = proc.communicate(timeout=2 * ROUND_TIMEOUT_S + 180)
    finally:
        proc.kill()
    assert proc.returncode == 0, output
    summary = output.split("\nSummary\n", 1)[1]
    assert "Round 1:" in summary and "Round 2:" in summary, summary
    assert "Deployed: v2 is production (seen by the downstream watcher)" in summary
    first, second = _round_scores(summary, 1), _round_scores(summary, 2)
    assert first["v1"][0] > first["base"][0] + 10.0, summary  # round 1 learned the old tones
    assert second["v2"][0] >= second["v1"][0], summary  # round 2 kept them...
    assert second["v2"][1] > second["v1"][1], summary  # ...and gained on the new tone
    rows = _database_rows(tmp_path / "demo" / "tonebridge.db")
    assert [v for v, _ in rows["versions"][:3]] == ["base", "1", "2"], output
    continued = _job_metrics(tmp_path / "demo" / "tonebridge.db")
    assert continued[:2] == [(0.0, 0.0), (1.0, continued[1][1])], continued
    assert continued[1][1] > 0  # round 2 replayed older feedback


def _round_scores(summary: str, number: int) -> dict[str, tuple[float, float]]:
    """``{model label: (old requests chrF, new requests chrF)}`` from a round's scores line."""
    line = next(x for x in summary.splitlines() if f"Round {number} held-out chrF" in x)
    old, new = line.split("; new requests")
    scores: dict[str, list[float]] = {}
    for part in (old, new):
        words = part.replace("->", " ").split()
        labels = [w for w in words if w == "base" or (w[0] == "v" and w[1:].isdigit())]
        for label in labels:
            scores.setdefault(label, []).append(float(words[words.index(label) + 1]))
    return {label: (pair[0], pair[1]) for label, pair in scores.items()}


def _job_metrics(path: Path) -> list[tuple[float, float]]:
    """(continued_parent, replayed) of every training job, oldest first."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT metrics FROM training_jobs ORDER BY created_at").fetchall()
    metrics = [json.loads(row[0] or "{}") for row in rows]
    return [(m.get("continued_parent", -1.0), m.get("replayed", -1.0)) for m in metrics]


def _held_out(summary: str) -> tuple[float, float]:
    line = next(x for x in summary.splitlines() if "Held-out chrF" in x)
    words = line.split()
    return float(words[words.index("base") + 1]), float(words[words.index("v1") + 1])


def _database_rows(path: Path) -> dict[str, list[tuple[str, ...]]]:
    with sqlite3.connect(path) as db:
        return {
            "versions": db.execute(
                "SELECT version, status FROM models ORDER BY created_at"
            ).fetchall(),
            "tests": db.execute("SELECT status FROM ab_tests").fetchall(),
            "jobs": db.execute("SELECT status FROM training_jobs ORDER BY created_at").fetchall(),
        }


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_a_signal_stops_every_process(
    tmp_path: Path, cache_dir: Path, signum: signal.Signals, status: int
) -> None:
    proc = demo(tmp_path, cache_dir)
    seen: list[str] = []
    try:
        for _ in lines_until(proc, "training job", seen):
            pass
        children = processes_mentioning(str(tmp_path))
        assert len(children) >= 4, children  # broker, worker, trainer, api
        proc.send_signal(signum)
        rest, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == status, "".join(seen) + rest
    assert "stopped: every child process was terminated" in rest
    deadline = time.monotonic() + 5
    while (left := processes_mentioning(str(tmp_path))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == []
