from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DetectorConfig(AppConfig):
    name = "detector"
    verbose_name = "Detector: submissions and scoring"

    def ready(self):
        from .roles_setup import ensure_role_groups_after_migrate

        post_migrate.connect(ensure_role_groups_after_migrate, dispatch_uid="aiornot_role_groups")
