"""The demo tells where its API and dashboard are once the API answers /readyz."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console

from tonebridge.demo.options import DemoOptions
from tonebridge.demo.session import Run
from tonebridge.demo.supervise import Supervisor
from tonebridge.demo.watchers import announce_api
from tonebridge.settings import load_settings

pytestmark = pytest.mark.integration


class Ready(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def api_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


async def test_the_demo_links_the_dashboard(api_port: int, tmp_path: Path) -> None:
    run = Run(DemoOptions(tmp_path, tmp_path), Console(file=None), Supervisor())
    await announce_api(run, load_settings(api_port=api_port, api_admin_keys=[]))
    notes = [text for _, text in run.story.timeline]
    url = f"http://127.0.0.1:{api_port}"
    assert f"API ready at {url}/docs (try {url}/feedback/stats)" in notes
    dashboard = next(note for note in notes if note.startswith("dashboard at"))
    assert dashboard.startswith(f"dashboard at {url}/ui ")
    assert "any key is accepted" in dashboard
