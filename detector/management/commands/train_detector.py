"""manage.py train_detector: train the real-vs-AI detector and write a checkpoint."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError


# Options one method reads and the other would ignore (--input-size, --seed, --max-per-source and --threads
# serve both).
METHOD_ONLY_OPTIONS = {
    "finetune": ("epochs", "batch_size", "lr", "max_minutes", "max_images", "val_fraction", "patience",
                 "no_pretrained", "device", "num_workers"),
    "probe": ("folds", "cache_dir", "train_variants", "exclude_sources", "l2", "consistency", "npr_epochs",
              "npr_draws", "npr_extra_variants", "npr_crop_pool", "npr_seed", "whole_view", "mirror_whole_view",
              "channel_correlations", "npr_weight", "keep_npr_from", "fold_draws", "report"),
}


class Command(BaseCommand):
    help = (
        "Train the AI-image detector on folders of labelled images and write a calibrated checkpoint. "
        "Each DATA_DIR has real/ and ai/ subfolders, or a MANIFEST.csv with path,label columns."
    )

    def add_arguments(self, parser):
        parser.add_argument("data_dirs", nargs="+", metavar="DATA_DIR", help="folder of training images")
        parser.add_argument("--output", required=True, help="checkpoint file to write")
        parser.add_argument(
            "--arch", default="efficientnet_lite0",
            help="timm architecture, or efficientnet_lite0_multilevel (probe: head on multi-level lite0 features), or "
            "efficientnet_lite0_multilevel_npr (probe: that head averaged with NPR patch models trained from scratch, "
            "the shipped default) (default: %(default)s)",
        )
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
            help="start from random weights (required for any arch other than efficientnet_lite0 and "
            "efficientnet_lite0_multilevel)",
        )
        parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
        parser.add_argument("--num-workers", type=int, default=0, help="data-loading processes")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--method",
            choices=["finetune", "probe"],
            default="finetune",
            help="finetune: train the whole network (validation split); probe: keep the ImageNet backbone frozen, "
            "fit a linear head, and calibrate and threshold it on out-of-source scores (group k-fold by source)",
        )
        parser.add_argument("--folds", type=int, default=5, help="probe: out-of-source folds (sources per fold vary)")
        parser.add_argument("--cache-dir", default=None, help="probe: folder to cache backbone features in")
        parser.add_argument("--train-variants", default="original,wild,jpeg75_half",
                            help="probe: image variants the head is fitted on (original, wild = one random re-save "
                            "and downscale, jpeg75_half, jpeg75_small = shrunk to a 112-224 px short side and "
                            "re-saved)")
        parser.add_argument("--exclude-sources", default="",
                            help="probe: sources (first folder of a path) never trained on but still scored out of "
                            "source, e.g. cifake,hardfaces whose thumbnails and face crops teach shortcuts")
        parser.add_argument("--l2", type=float, default=0.1, help="probe: L2 penalty of the head on standardised features")
        parser.add_argument("--consistency", type=float, default=0.0,
                            help="probe: penalty on the squared difference between an image's logit and its "
                            "--train-variants copies' logits (0, the default, treats the copies as independent images)")
        parser.add_argument("--npr-epochs", type=int, default=None,
                            help="probe with efficientnet_lite0_multilevel_npr: epochs of each NPR patch model (default 16)")
        parser.add_argument("--npr-draws", type=int, default=None,
                            help="probe with efficientnet_lite0_multilevel_npr: crops drawn per epoch (default 6144)")
        parser.add_argument("--npr-extra-variants", default="",
                            help="probe with efficientnet_lite0_multilevel_npr: image variants the NPR patch models also "
                            "train on, beside the original and JPEG q75 + half size (e.g. wild = one random re-save and "
                            "downscale)")
        parser.add_argument("--npr-crop-pool", type=int, default=None, metavar="N",
                            help="probe with efficientnet_lite0_multilevel_npr: the NPR patch models score the 8 flattest "
                            "of N crops per image (8 to 64; default: the kept checkpoint's, else 8, no pool)")
        parser.add_argument("--npr-seed", type=int, default=0, metavar="N",
                            help="probe with efficientnet_lite0_multilevel_npr: fold k's new NPR patch model trains with "
                            "seed N + k (default 0)")
        parser.add_argument("--whole-view", action="store_true",
                            help="probe with efficientnet_lite0_multilevel or _npr: the head also reads the whole picture "
                            "shrunk to one 224-px crop, beside the native-resolution crops")
        parser.add_argument("--mirror-whole-view", action="store_true",
                            help="with --whole-view: read the whole picture also mirrored left-right and average the two "
                            "views' features (one more forward pass per image)")
        parser.add_argument("--channel-correlations", action="store_true",
                            help="probe with efficientnet_lite0_multilevel or _npr: each crop's vector also holds the channel "
                            "correlations of the stem and stages 0-3 (4832 numbers, the texture's statistics; same forward pass)")
        parser.add_argument("--npr-weight", default=None, metavar="SHARE",
                            help="probe with efficientnet_lite0_multilevel_npr: the NPR part's share of the mixed logit, "
                            "between 0 and 1, or 'auto' to choose it on the mean of the clean and the re-saved out-of-source "
                            "AUC (the log shows each share's AUC and a nested estimate); default: the kept checkpoint's, "
                            "else 0.5")
        parser.add_argument("--keep-npr-from", default=None, metavar="CHECKPOINT",
                            help="probe with efficientnet_lite0_multilevel_npr: keep the NPR members (and their stored "
                            "out-of-source logits) of this checkpoint instead of training them again, as retrain does")
        parser.add_argument("--fold-draws", type=int, default=0, metavar="N",
                            help="probe: also score the recipe under N other draws of the source folds and record each "
                                 "out-of-source AUC (how much the figure depends on which sources are held out together)")
        parser.add_argument("--report", default=None, metavar="DIR",
                            help="probe: also write this run's out-of-source report (out-of-source.md / .json) to DIR")
        parser.add_argument("--threads", type=int, default=None, help="torch threads (1 is fastest on a busy machine)")

    def handle(self, *args, **options):
        from detector.ml.checkpoint import CheckpointError  # torch stays out of the web process
        from detector.ml.training import DatasetError, TrainingConfigError, train_detector

        stop = threading.Event()

        def request_stop(signum, frame):
            if stop.is_set():
                raise KeyboardInterrupt
            self.stderr.write("Stopping after this batch; the best finished epoch will be saved (again to abort).")
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, request_stop)
        self._refuse_other_methods_options(options)
        if options["threads"] is not None:
            if options["threads"] < 1:
                raise CommandError(f"--threads must be at least 1, got {options['threads']}.")
            import torch

            torch.set_num_threads(options["threads"])
        if options["method"] == "probe":
            return self._probe(options)
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

    def _probe(self, options):
        from detector.ml.architectures import WHOLE_VIEW_ARCHS, UnknownArchitectureError, check_arch  # torch stays out of the web process
        from detector.ml.datasets import DatasetError
        from detector.ml.out_of_source import train_probe_detector
        from detector.ml.pretrained import PretrainedWeightsError
        from detector.ml.probe import ProbeError

        if not 0 <= options["fold_draws"] <= 20:
            raise CommandError(f"--fold-draws must be between 0 and 20, got {options['fold_draws']}.")
        if options["folds"] < 2:
            raise CommandError(f"--folds must be at least 2, got {options['folds']}.")
        if options["l2"] <= 0:
            raise CommandError(f"--l2 must be positive, got {options['l2']}.")
        if not options["consistency"] >= 0:  # also refuses nan
            raise CommandError(f"--consistency must be 0 or more, got {options['consistency']}.")
        from detector.ml.checkpoint import CheckpointError
        from detector.ml.npr import NPR_ARCH

        if options["keep_npr_from"] and options["arch"] != NPR_ARCH:
            raise CommandError(f"--keep-npr-from applies only to --arch {NPR_ARCH}.")
        if options["npr_seed"]:
            if options["arch"] != NPR_ARCH:
                raise CommandError(f"--npr-seed applies only to --arch {NPR_ARCH}.")
            if options["keep_npr_from"]:
                raise CommandError("--npr-seed seeds new NPR members; --keep-npr-from keeps a checkpoint's members instead.")
            if options["npr_seed"] < 0:
                raise CommandError(f"--npr-seed must be 0 or more, got {options['npr_seed']}.")
        for name in ("npr_epochs", "npr_draws"):
            if options[name] is not None and options[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be at least 1, got {options[name]}.")
        variants = tuple(v.strip() for v in options["train_variants"].split(",") if v.strip())
        npr_extra = self._npr_extra_variants(options)
        if options["npr_crop_pool"] is not None:
            from detector.ml.npr import check_crop_pool

            if options["arch"] != NPR_ARCH:
                raise CommandError(f"--npr-crop-pool applies only to --arch {NPR_ARCH}.")
            try:
                check_crop_pool(options["npr_crop_pool"], "--npr-crop-pool")
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        try:
            check_arch(options["arch"], pretrained=True)  # a probe keeps the backbone's ImageNet weights
        except UnknownArchitectureError as exc:
            raise CommandError(str(exc)) from exc
        if options["whole_view"] and options["arch"] not in WHOLE_VIEW_ARCHS:
            raise CommandError(f"--whole-view applies only to --arch {' or '.join(WHOLE_VIEW_ARCHS)}.")
        if options["mirror_whole_view"] and not options["whole_view"]:
            raise CommandError("--mirror-whole-view needs --whole-view.")
        if options["channel_correlations"] and options["arch"] not in WHOLE_VIEW_ARCHS:
            raise CommandError(f"--channel-correlations applies only to --arch {' or '.join(WHOLE_VIEW_ARCHS)}.")
        npr_weight = self._npr_weight(options)
        try:
            result = train_probe_detector(
                options["data_dirs"], options["output"], folds=options["folds"], train_variants=variants, l2=options["l2"],
                exclude_sources=tuple(x.strip() for x in options["exclude_sources"].split(",") if x.strip()),
                max_per_source=options["max_per_source"], seed=options["seed"], cache_dir=options["cache_dir"],
                input_size=options["input_size"], arch=options["arch"], npr_epochs=options["npr_epochs"],
                npr_draws=options["npr_draws"], keep_npr_from=options["keep_npr_from"], npr_extra_variants=npr_extra,
                npr_crop_pool=options["npr_crop_pool"], npr_seed=options["npr_seed"], whole_view=options["whole_view"], npr_weight=npr_weight,
                whole_view_mirrored=options["mirror_whole_view"], channel_correlations=options["channel_correlations"],
                consistency=options["consistency"], fold_draws=options["fold_draws"], log=self.stdout.write,
            )
        except (DatasetError, ProbeError, PretrainedWeightsError, CheckpointError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        oos = result.metrics["out_of_source"]
        if options["report"]:
            self._write_report(options["report"], result)
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {result.checkpoint_path} ({result.model_version}): out-of-source ROC AUC "
            f"{oos['auc_ai_vs_all_real']:.3f}; thresholds {oos['thresholds']}."
        ))

    def _refuse_other_methods_options(self, options):
        """An option the chosen method would not read is an error, not silently dropped: a user who asked
        for --whole-view or --epochs must not get a model trained without it."""
        method = options["method"]
        other = "finetune" if method == "probe" else "probe"
        parser = self.create_parser("manage.py", "train_detector")
        given = [name for name in METHOD_ONLY_OPTIONS[other] if options.get(name) != parser.get_default(name)]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            verb = "applies" if len(given) == 1 else "apply"
            raise CommandError(f"{flags} {verb} only to --method {other}; --method {method} would ignore "
                               f"{'it' if len(given) == 1 else 'them'}.")

    @staticmethod
    def _npr_weight(options):
        from detector.ml.npr import NPR_ARCH

        value = options["npr_weight"]
        if value is None:
            return None
        if options["arch"] != NPR_ARCH:
            raise CommandError(f"--npr-weight applies only to --arch {NPR_ARCH}.")
        if value.strip().lower() == "auto":
            return "auto"
        try:
            share = float(value)
        except ValueError:
            raise CommandError(f"--npr-weight must be a number between 0 and 1 or 'auto', got {value!r}.") from None
        if not 0.0 < share < 1.0:
            raise CommandError(f"--npr-weight must be between 0 and 1 (exclusive), got {value}.")
        return share

    @staticmethod
    def _npr_extra_variants(options) -> tuple:
        from detector.ml.npr import NPR_ARCH
        from detector.ml.probe import VARIANTS

        extra = tuple(v.strip() for v in options["npr_extra_variants"].split(",") if v.strip())
        if not extra:
            return extra
        if options["arch"] != NPR_ARCH:
            raise CommandError(f"--npr-extra-variants applies only to --arch {NPR_ARCH}.")
        unknown = [v for v in extra if v not in VARIANTS]
        if unknown:
            raise CommandError(f"Unknown --npr-extra-variants {', '.join(unknown)}; known: {', '.join(VARIANTS)}.")
        if options["keep_npr_from"]:
            raise CommandError("--npr-extra-variants trains the NPR models; it cannot be combined with --keep-npr-from.")
        return extra

    def _write_report(self, out_dir, result):
        import sys
        from pathlib import Path

        from detector.ml.out_of_source_report import write_out_of_source_report

        metrics = result.metrics
        command = "manage.py train_detector " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""
        extra = {k: metrics[k] for k in ("probe_part_out_of_source", "npr_part", "fold_draws_out_of_source") if k in metrics}
        write_out_of_source_report(
            out_dir, metrics["out_of_source"], metrics["protocol"], metrics["out_of_source"]["thresholds"],
            metrics["threshold_info"], command=command, extra=extra,
            title=f"Out-of-source evaluation of {result.model_version} (group k-fold by source)",
        )
        self.stdout.write(f"Wrote {Path(out_dir) / 'out-of-source.md'}")
