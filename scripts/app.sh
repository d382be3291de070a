#!/usr/bin/env bash
# Set up (if needed) and open the explorer. Extra arguments go to `streamlit run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamlit run explorer/app.py "$@"
