#!/usr/bin/env bash
# Create or refresh .venv with the project and its pinned dependencies. Idempotent: a second
# run with unchanged pyproject.toml/constraints.txt does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
stamp_of() { cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1; }
want=$(stamp_of)
if [ -f .venv/.tonebridge-stamp ] && [ "$(cat .venv/.tonebridge-stamp)" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and pinned: an unpinned torch makes pip pick a multi-GB CUDA build.
.venv/bin/pip install -q "torch==$(grep -E '^torch==' constraints.txt | cut -d= -f3)"
.venv/bin/pip install -q -c constraints.txt -e ".[dev]"
echo "$want" > .venv/.tonebridge-stamp
