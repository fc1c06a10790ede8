import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")
application = get_wsgi_application()

# Embedded mode (no broker): this process scores uploads in its own background thread.
# Started here, in each server process (never with gunicorn --preload: threads do not survive fork).
from aiornot_site.embedded import embedded_scoring_start  # noqa: E402

embedded_scoring_start()
