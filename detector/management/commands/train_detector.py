"""manage.py train_detector: train the real-vs-AI detector and write a checkpoint."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Train the AI-image detector on folders of labelled images and write a calibrated checkpoint. "
        "Each DATA_DIR has real/ and ai/ subfolders, or a MANIFEST.csv with path,label columns."
    )

    def add_arguments(self, parser):
        parser.add_argument("data_dirs", nargs="+", metavar="DATA_DIR", help="folder of training images")
        parser.add_argument("--output", required=True, help="checkpoint file to write")
        parser.add_argument("--arch", default="efficientnet_lite0", help="timm architecture (default: %(default)s)")
        parser.add_argument("--epochs", type=int, default=10)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--lr", type=float, default=3e-4)
        parser.add_argument("--input-size", type=int, default=224, help="crop size in pixels")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--max-per-source", type=int, default=None, help="at most this many images of each source and class"
        )
        parser.add_argument(
            "--max-minutes", type=float, default=None,
            help="time budget: no epoch is started that would end past it (the best epoch so far is saved)",
        )
        parser.add_argument("--max-images", type=int, default=None, help="class-balanced random sample of this size")
        parser.add_argument("--val-fraction", type=float, default=0.15)
        parser.add_argument("--patience", type=int, default=3, help="epochs without validation improvement")
        parser.add_argument(
            "--no-pretrained",
            action="store_true",
            help="start from random weights (required for any arch other than efficientnet_lite0)",
        )
        parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
        parser.add_argument("--num-workers", type=int, default=0, help="data-loading processes")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        # Imported here so that `manage.py help` does not pay for importing torch and timm.
        from detector.ml.checkpoint import CheckpointError
        from detector.ml.training import DatasetError, TrainingConfigError, train_detector

        import signal
        import threading

        stop = threading.Event()

        def request_stop(signum, frame):
            if stop.is_set():
                raise KeyboardInterrupt
            self.stderr.write("Stopping after this batch; the best finished epoch will be saved (again to abort).")
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, request_stop)
        try:
            result = train_detector(
                data_dirs=options["data_dirs"],
                output=options["output"],
                arch=options["arch"],
                pretrained=not options["no_pretrained"],
                input_size=options["input_size"],
                epochs=options["epochs"],
                batch_size=options["batch_size"],
                lr=options["lr"],
                seed=options["seed"],
                val_fraction=options["val_fraction"],
                patience=options["patience"],
                max_images=options["max_images"],
                max_per_source=options["max_per_source"],
                max_minutes=options["max_minutes"],
                should_stop=stop.is_set,
                device=options["device"],
                num_workers=options["num_workers"],
                progress=not options["no_progress"],
                log=self.stdout.write,
            )
        except (DatasetError, TrainingConfigError, CheckpointError) as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            raise CommandError("Training interrupted; no checkpoint was written.") from None
        metrics = result.metrics
        self.stdout.write(
            self.style.SUCCESS(
                f"Wrote {result.checkpoint_path} ({result.model_version}) after {result.epochs_run} epoch(s): "
                f"validation ROC AUC {metrics['roc_auc']:.4f}, accuracy {metrics['accuracy']:.4f}."
            )
        )
