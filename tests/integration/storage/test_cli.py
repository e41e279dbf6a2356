from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tonebridge.cli import app

pytestmark = pytest.mark.integration


def test_db_upgrade_current_and_downgrade(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'cli.db'}"
    runner = CliRunner()
    steps = [
        (["db", "current", "--url", url], "base (empty database)"),
        (["db", "upgrade", "--url", url], "database at head"),
        (["db", "current", "--url", url], "0003"),
        (["db", "downgrade", "base", "--url", url], "database at base"),
        (["db", "current", "--url", url], "base (empty database)"),
    ]
    for arguments, expected in steps:
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == expected
