from django.core.management.base import BaseCommand, CommandError

from registry.errors import RegistryError
from registry.services import model_promote


class Command(BaseCommand):
    help = "Make a candidate the active model, if the promotion guard allows it; open cases are then rescored."

    def add_arguments(self, parser):
        parser.add_argument("version")

    def handle(self, *args, version, **options):
        try:
            promoted = model_promote(version=version)
        except RegistryError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{promoted.version} is now the active model; open cases are being rescored.")
