from django.core.management.base import BaseCommand, CommandError

from registry.errors import RegistryError
from registry.services import model_rollback


class Command(BaseCommand):
    help = "Return to an earlier model version in one step; open cases are then rescored."

    def add_arguments(self, parser):
        parser.add_argument("version")

    def handle(self, *args, version, **options):
        try:
            target = model_rollback(version=version)
        except RegistryError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Rolled back: {target.version} is the active model again; open cases are being rescored.")
