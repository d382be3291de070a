#!/usr/bin/env bash
# Set up (if needed), install the browser for the UI tests and ESLint for the page's code, and run
# the whole test suite. Extra arguments go to pytest (e.g. -m "not browser and not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
need=()
[ -x /usr/bin/chromium ] || need+=(chromium chromium-driver)
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing ${need[*]} (Debian packages)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "==> not root: tests needing ${need[*]} will be skipped (sudo apt-get install ${need[*]})"
  fi
fi
if command -v npm >/dev/null && ! [ .ci/node_modules/.stamp -nt .ci/package-lock.json ]; then
  echo "==> installing ESLint for the page's code (.ci/package.json)"
  (cd .ci && npm ci --no-audit --no-fund --silent)
  touch .ci/node_modules/.stamp
fi
exec .venv/bin/python -m pytest "$@"
