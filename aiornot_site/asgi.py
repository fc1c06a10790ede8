import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")
application = get_asgi_application()

# Embedded mode (no broker): this process scores uploads in its own background thread.
from aiornot_site.embedded import embedded_scoring_start  # noqa: E402

embedded_scoring_start()
