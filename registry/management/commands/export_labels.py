from django.core.management.base import BaseCommand, CommandError

from registry.errors import RegistryError
from registry.retraining import labels_export


class Command(BaseCommand):
    help = (
        "Write the final reviewer labels as a dataset folder (reviewed/real|ai/... and MANIFEST.csv with "
        "submission time, collection and source) that train_detector and evaluate_detector read."
    )

    def add_arguments(self, parser):
        parser.add_argument("out", help="a new (or empty) folder")
        parser.add_argument("--split", choices=["train", "holdout"], default=None,
                            help="only the frozen training or hold-out side (default: every label)")
        parser.add_argument(
            "--include-confident-unreviewed", action="store_true",
            help="also add unreviewed images the model scored P(AI) >= 0.8 (as AI) or <= 0.2 (as human). Off by "
                 "default: it teaches the model its own mistakes (self-training); see docs/retraining.md.",
        )
        parser.add_argument("--allow-one-class", action="store_true",
                            help="export even if every label is the same (to combine with other data)")

    def handle(self, *args, out, split, include_confident_unreviewed, allow_one_class, **options):
        try:
            result = labels_export(
                out, split=split, include_confident_unreviewed=include_confident_unreviewed,
                allow_one_class=allow_one_class,
            )
        except RegistryError as exc:
            raise CommandError(exc.message) from None
        origins = ", ".join(f"{n} from {o.replace('_', ' ')}" for o, n in sorted(result.origins.items()))
        self.stdout.write(
            f"Exported {result.total} image(s) to {result.out}: {result.counts['human']} human, "
            f"{result.counts['ai']} AI ({origins})."
        )
