from django.core.management.base import BaseCommand

from detector.roles_setup import role_groups_ensure


class Command(BaseCommand):
    help = "Create or update the submitters, reviewers and admins groups (migrate also does this)."

    def handle(self, *args, **options):
        groups = role_groups_ensure()
        for name, group in groups.items():
            self.stdout.write(f"{name}: {group.permissions.count()} permissions")
