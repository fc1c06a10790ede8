"""Embed (a sample of) the training data so case pages can say when an image is unlike all of it."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from detector.novelty import training_embeddings_write
from detector.scoring import active_detector
from reviews.services import cases_training_similarity_refresh


class Command(BaseCommand):
    help = ("Embed the base training data with the active model and write AIORNOT_TRAINING_EMBEDDINGS. "
            "Run it again after promoting a model (the embeddings are per model); open review cases are "
            "re-measured for the queue's teaching order.")

    def add_arguments(self, parser):
        parser.add_argument("data_dirs", nargs="*", help="default: AIORNOT_BASE_TRAINING_DATA")
        parser.add_argument("--max-per-source", type=int, default=100, help="images per source and class")
        parser.add_argument("--out", help="default: AIORNOT_TRAINING_EMBEDDINGS")

    def handle(self, *args, **options):
        from detector.ml.datasets import DatasetError, cap_per_source, collect_samples  # torch stays out of the web process

        dirs = options["data_dirs"] or list(settings.AIORNOT_BASE_TRAINING_DATA)
        if not dirs:
            raise CommandError("No training data: give folders or set AIORNOT_BASE_TRAINING_DATA.")
        try:
            samples = cap_per_source(collect_samples(dirs, log=lambda m: None), options["max_per_source"], 0)
        except DatasetError as exc:
            raise CommandError(str(exc)) from None
        out = options["out"] or settings.AIORNOT_TRAINING_EMBEDDINGS
        count = training_embeddings_write(
            detector=active_detector(), paths=[s.path for s in samples], out=out, log=self.stderr.write
        )
        self.stdout.write(f"Wrote {count} training embedding(s) to {out}.")
        if str(out) == str(settings.AIORNOT_TRAINING_EMBEDDINGS):  # the index the app reads: re-measure the queue
            changed = cases_training_similarity_refresh()
            self.stdout.write(f"Open cases re-measured against it: {changed} changed.")
