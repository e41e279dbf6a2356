#!/usr/bin/env bash
# Set up (idempotent), make sure services are up, then lint, type-check and run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/services.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/ruff check tonebridge tests bench
.venv/bin/mypy
.venv/bin/pytest -q -p no:cacheprovider "$@"
