"""The Celery application: one module, configured from Django settings (CELERY_*)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aiornot_site.settings")

app = Celery("aiornot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
