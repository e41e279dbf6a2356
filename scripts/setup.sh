#!/usr/bin/env bash
# Create or refresh .venv with the project and its pinned dependencies. Idempotent: a second
# run with unchanged pyproject.toml/constraints.txt does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
# The dashboard's browser tests drive Debian's chromium through Playwright (whose own browser
# download needs the internet); installed here when missing and we may (root, apt).
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
    || echo "setup: chromium did not install; the dashboard's browser tests will skip" >&2
fi
stamp_of() { cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1; }
want=$(stamp_of)
if [ -f .venv/.tonebridge-stamp ] && [ "$(cat .venv/.tonebridge-stamp)" = "$want" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and pinned: an unpinned torch makes pip pick a multi-GB CUDA build.
# pip warns about every configured-but-absent local index folder; keep the log readable.
quiet() {
  "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
}
TORCH=$(grep -E '^torch==' constraints.txt | cut -d= -f3)
# Where the CPU build comes from when the configured indexes do not have it.
TORCH_CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  quiet .venv/bin/pip install -q "torch==${TORCH}"
else
  # No GPU: the CPU build, asked for by its local version (constraints' torch==X accepts X+cpu).
  quiet .venv/bin/pip install -q "torch==${TORCH}+cpu" \
    || quiet .venv/bin/pip install -q --index-url "$TORCH_CPU_INDEX" "torch==${TORCH}+cpu"
fi
# Every extra (worker, trainer, gpu, api, embedded, s3, gcs) and the development tools.
quiet .venv/bin/pip install -q -c constraints.txt -e ".[all,dev]"
.venv/bin/python -c "import tonebridge, torch, faust, trl" # fail here if the install did not take
echo "$want" > .venv/.tonebridge-stamp
