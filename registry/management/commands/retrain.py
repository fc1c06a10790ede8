from django.core.management.base import BaseCommand, CommandError

from registry.errors import RegistryError
from registry.retraining import retrain


class Command(BaseCommand):
    help = (
        "Train a candidate detector from the active model on the base training data plus the reviewers' "
        "training-side labels (a probe model's head is refitted with the labels weighted up; any other model is "
        "fine-tuned), evaluate it and the active model on the frozen hold-out of reviewer labels, "
        "and register it. Promote it with `manage.py promote_model VERSION` (guarded)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-data", nargs="*", default=None,
                            help="labelled folders to train on besides the labels (default: AIORNOT_BASE_TRAINING_DATA)")
        parser.add_argument("--epochs", type=int, default=2)
        parser.add_argument("--max-per-source", type=int, default=300)
        parser.add_argument("--max-minutes", type=float, default=None)
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--holdout-fraction", type=float, default=None,
                            help="share of new labels frozen into the hold-out (default: AIORNOT_HOLDOUT_FRACTION)")

    def handle(self, *args, **options):
        for name in ("epochs", "max_per_source", "batch_size"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1.")
        try:
            candidate = retrain(
                epochs=options["epochs"], max_per_source=options["max_per_source"], base_data=options["base_data"],
                max_minutes=options["max_minutes"], batch_size=options["batch_size"], seed=options["seed"],
                holdout_fraction=options["holdout_fraction"], log=self.stdout.write,
            )
        except RegistryError as exc:
            raise CommandError(exc.message) from None
        evaluation = candidate.holdout_evaluation
        for name in ("candidate", "active"):
            figures = evaluation[name]
            auc = "undefined" if figures["roc_auc"] is None else f"{figures['roc_auc']:.4f}"
            fpr = "undefined" if figures["fpr"] is None else f"{100 * figures['fpr']:.2f}%"
            art = (f"; {figures['art_false_positives']} of {figures['artworks']} art-contest artworks called likely AI"
                   if figures.get("artworks") else "")
            self.stdout.write(f"{name:9} on the hold-out ({figures['human']} human, {figures['ai']} AI): ROC AUC {auc}, "
                              f"false positives {fpr}{art}")
        self.stdout.write(f"Registered candidate {candidate.version}. Promote with: manage.py promote_model {candidate.version}")
