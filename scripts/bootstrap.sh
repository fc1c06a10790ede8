#!/usr/bin/env bash
# Create .venv and install the given requirements file, skipping pip when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "Creating virtual environment in .venv ..."
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$requirements" .txt)"
wanted="$(cat requirements.txt "$requirements" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "Installing $requirements (PyTorch is large: the first install takes a few minutes) ..."
  .venv/bin/python -m pip install --disable-pip-version-check -q -r "$requirements"
  echo "$wanted" > "$stamp"
fi
