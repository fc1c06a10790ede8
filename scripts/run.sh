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
# One process with threads (settings and slow-client limits: aiornot_site/gunicorn_conf.py); it
# scores uploads in its own background thread, with one copy of the model.
exec .venv/bin/gunicorn aiornot_site.wsgi --config aiornot_site/gunicorn_conf.py --bind "$address"
