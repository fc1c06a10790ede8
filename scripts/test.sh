#!/usr/bin/env bash
# One command to run the test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
