#!/usr/bin/env bash
# One command to try aiornot on one machine: SQLite, files on local disk, scoring in-process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh requirements.txt
.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py seed_demo
address="${AIORNOT_ADDRESS:-127.0.0.1:8000}"
echo
echo "aiornot is running at http://$address/  (Ctrl-C stops it)"
echo "Sign in with a demo user above, or create your own: .venv/bin/python manage.py add_user NAME --role reviewer"
exec .venv/bin/gunicorn aiornot_site.wsgi --bind "$address" --workers 1 --threads 4 --timeout 120 --access-logfile -
