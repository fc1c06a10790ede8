from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from detector.known_images import known_images_import
from detector.models import KnownImage


class Command(BaseCommand):
    help = (
        "Add every image under DIR to the known-image library with a label (e.g. a set of known "
        "AI-generated images), so later submissions of the same picture - re-encoded, resized, cropped "
        "or colour-filtered - are matched and shown to reviewers."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", help="folder of images (searched recursively)")
        parser.add_argument("--label", required=True, choices=KnownImage.Label.values, help="what the images are")
        parser.add_argument("--set-name", default="", help="name shown with each match (default: the folder name)")

    def handle(self, *args, folder, label, set_name, **options):
        path = Path(folder).expanduser()
        name = set_name.strip() or path.resolve().name
        try:
            result = known_images_import(folder=path, label=label, set_name=name, imported_by="manage.py", log=self.stdout.write)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        for skipped_path, reason in result.skipped[:20]:
            self.stderr.write(f"skipped {skipped_path}: {reason}")
        if len(result.skipped) > 20:
            self.stderr.write(f"... and {len(result.skipped) - 20} more skipped")
        self.stdout.write(
            f"Imported {result.imported} image(s) into \"{name}\" as {label}; {result.already_known} already there; "
            f"{len(result.skipped)} skipped."
        )
