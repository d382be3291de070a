#!/usr/bin/env bash
# Set up (if needed) and open the explorer. Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}  # freed session memory goes back to the OS (README, "Serving a class")
exec .venv/bin/streamlit run explorer/app.py "$@"
