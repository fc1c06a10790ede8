"""manage.py evaluate_detector: measure a detector checkpoint on labelled images and write a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from detector.ml.report import ReportError, prepare_output_dir, write_report
from detector.scoring import thresholds_for


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class Command(BaseCommand):
    help = (
        "Evaluate the AI-image detector on folders of labelled images and write report.json, report.md, "
        "scores.csv and plots (PNG and SVG) to REPORT_DIR. Each DATA_DIR has real/ and ai/ subfolders, or a "
        "MANIFEST.csv with path,label columns; a folder with only real (or only AI) images is fine."
    )

    def add_arguments(self, parser):
        parser.add_argument("data_dirs", nargs="+", metavar="DATA_DIR", help="folder of labelled images")
        parser.add_argument("--out", required=True, metavar="REPORT_DIR", help="folder to write the report to")
        parser.add_argument(
            "--checkpoint",
            default=None,
            help="detector checkpoint to evaluate (default: the AIORNOT_DETECTOR_CHECKPOINT setting)",
        )
        parser.add_argument(
            "--max-images", type=_positive_int, default=None, help="class-balanced random sample of this size"
        )
        parser.add_argument("--seed", type=int, default=0, help="seed of the --max-images sample")
        parser.add_argument(
            "--no-robustness",
            action="store_true",
            help="skip the JPEG / resize / crop robustness passes (about 4x faster)",
        )
        parser.add_argument("--batch-size", type=_positive_int, default=16, help="images per score_batch call")
        parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
        parser.add_argument(
            "--policy",
            default="general",
            choices=["general", "art_contest", "newsroom"],
            help="use the thresholds of this collection policy (default: general)",
        )
        parser.add_argument(
            "--out-of-source",
            type=_positive_int,
            default=None,
            metavar="K",
            help="instead of scoring a checkpoint: split the sources into K groups and score each group with a "
            "probe head trained on the other groups only (frozen ImageNet backbone), so no score comes from a "
            "model that saw that source; writes out-of-source.json and out-of-source.md",
        )
        parser.add_argument("--max-per-source", type=_positive_int, default=400,
                            help="out-of-source protocol: at most this many images of each source and class")
        parser.add_argument("--cache-dir", default=None, help="out-of-source protocol: where to cache features")
        parser.add_argument("--train-variants", default="original,wild,jpeg75_half",
                            help="out-of-source protocol: image variants each fold's head is fitted on")
        parser.add_argument("--l2", type=float, default=0.1, help="out-of-source protocol: L2 penalty of the head")
        parser.add_argument("--exclude-sources", default="",
                            help="out-of-source protocol: sources never trained on but still scored (e.g. cifake,hardfaces)")
        parser.add_argument("--arch", default="efficientnet_lite0",
                            help="out-of-source protocol: backbone whose ImageNet features the heads are fitted on: "
                            "efficientnet_lite0 (pooled 1280-d) or efficientnet_lite0_multilevel (2848-d multi-level) "
                            "(default: %(default)s)")
        parser.add_argument("--whole-view", action="store_true",
                            help="out-of-source protocol with efficientnet_lite0_multilevel: the head also reads the "
                            "whole picture shrunk to one 224-px crop, as the default model's probe part does")
        parser.add_argument("--channel-correlations", action="store_true",
                            help="out-of-source protocol with efficientnet_lite0_multilevel: each crop's vector also holds "
                            "the channel correlations of the stem and stages 0-3, as the default model's probe part does")
        parser.add_argument("--fold-draws", type=int, default=0, metavar="N",
                            help="out-of-source protocol: also score under N other draws of the source folds and "
                            "report each AUC (how much the figure depends on which sources are held out together)")

    def handle(self, *args, **options):
        from detector.ml.evaluation import EvaluationError, check_device  # torch stays out of the web process

        out_existed = Path(options["out"]).expanduser().exists() if options["out"] else True
        try:
            out_dir = prepare_output_dir(options["out"])
            device = check_device(options["device"])
        except (ReportError, EvaluationError) as exc:
            raise CommandError(str(exc)) from exc
        try:
            if options.get("out_of_source"):
                self._out_of_source(out_dir, options)
            else:
                self._evaluate(out_dir, device, options)
        except CommandError:
            if not out_existed:
                try:
                    out_dir.rmdir()  # only removes the folder this run created, and only while empty
                except OSError:
                    pass
            raise

    def _out_of_source(self, out_dir, options):
        from detector.ml.architectures import WHOLE_VIEW_ARCHS, UnknownArchitectureError, check_arch  # torch stays out of the web process
        from detector.ml.datasets import DatasetError
        from detector.ml.out_of_source import other_fold_draws, run_out_of_source
        from detector.ml.out_of_source_report import write_out_of_source_report
        from detector.ml.probe import ProbeError

        if options["whole_view"] and options["arch"] not in WHOLE_VIEW_ARCHS:
            raise CommandError(f"--whole-view applies only to --arch {' or '.join(WHOLE_VIEW_ARCHS)}.")
        if options["channel_correlations"] and options["arch"] not in WHOLE_VIEW_ARCHS:
            raise CommandError(f"--channel-correlations applies only to --arch {' or '.join(WHOLE_VIEW_ARCHS)}.")
        if not 0 <= options["fold_draws"] <= 20:
            raise CommandError(f"--fold-draws must be between 0 and 20, got {options['fold_draws']}.")
        train_variants = tuple(v.strip() for v in options["train_variants"].split(",") if v.strip())
        exclude_sources = tuple(v.strip() for v in options["exclude_sources"].split(",") if v.strip())
        try:
            check_arch(options["arch"], pretrained=True)
            result = run_out_of_source(
                options["data_dirs"], folds=options["out_of_source"], max_per_source=options["max_per_source"],
                seed=options["seed"], cache_dir=options["cache_dir"], log=self.stdout.write, l2=options["l2"],
                train_variants=train_variants, exclude_sources=exclude_sources,
                arch=options["arch"], whole_view=options["whole_view"],
                channel_correlations=options["channel_correlations"],
            )
            draws = None
            if options["fold_draws"]:
                draws = other_fold_draws(result, options["fold_draws"], seed=options["seed"], folds=options["out_of_source"],
                                         train_variants=train_variants, l2=options["l2"], exclude_sources=exclude_sources,
                                         log=self.stdout.write)
        except (DatasetError, ProbeError, UnknownArchitectureError) as exc:
            raise CommandError(str(exc)) from exc
        command = "manage.py evaluate_detector " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""
        figures = write_out_of_source_report(out_dir, result["figures"], result["protocol"], result["thresholds"],
                                             result["threshold_info"], command=command,
                                             extra={"fold_draws_out_of_source": draws} if draws else None)
        self.stdout.write(self.style.SUCCESS(
            f"Wrote {out_dir / 'out-of-source.md'}: out-of-source ROC AUC {figures['auc_ai_vs_all_real']:.3f}; "
            f"suggested likely_ai {result['thresholds']['likely_ai']:.4f}, likely_human {result['thresholds']['likely_human']:.4f}."
        ))

    def _evaluate(self, out_dir, device, options):
        from detector.ml.checkpoint import CheckpointError  # torch stays out of the web process
        from detector.ml.datasets import DatasetError
        from detector.ml.evaluation import EvaluationError, evaluate_detector
        from detector.ml.inference import load_detector

        checkpoint = options["checkpoint"]
        from_setting = checkpoint is None
        if from_setting:
            checkpoint = getattr(settings, "AIORNOT_DETECTOR_CHECKPOINT", None)
            if not checkpoint:
                raise CommandError(
                    "No detector checkpoint: pass --checkpoint PATH or set AIORNOT_DETECTOR_CHECKPOINT."
                )
        try:
            detector = load_detector(checkpoint, device=device)
        except CheckpointError as exc:
            hint = (
                " (from the AIORNOT_DETECTOR_CHECKPOINT setting; pass --checkpoint PATH to evaluate another file)"
                if from_setting
                else ""
            )
            raise CommandError(f"{exc}{hint}") from exc

        try:
            thresholds = thresholds_for(detector, options.get("policy") or "general")
        except ValueError as exc:
            raise CommandError(f"The configured thresholds are invalid: {exc}") from exc
        overridden = (
            getattr(settings, "AIORNOT_LIKELY_AI_THRESHOLD", None) is not None
            or getattr(settings, "AIORNOT_LIKELY_HUMAN_THRESHOLD", None) is not None
        )

        self.stdout.write(f"Evaluating {detector.model_version} ({detector.arch}) from {detector.checkpoint_path}")
        try:
            result = evaluate_detector(
                detector,
                options["data_dirs"],
                thresholds={"likely_ai": thresholds.likely_ai, "likely_human": thresholds.likely_human},
                thresholds_source=(
                    "settings (AIORNOT_LIKELY_AI_THRESHOLD / AIORNOT_LIKELY_HUMAN_THRESHOLD)"
                    if overridden
                    else "checkpoint"
                )
                + ("" if (options.get("policy") or "general") == "general" else f", {options['policy']} policy"),
                max_images=options["max_images"],
                seed=options["seed"],
                robustness=not options["no_robustness"],
                batch_size=options["batch_size"],
                log=self.stdout.write,
            )
            write_report(result.report, out_dir, images=result.images)
        except (DatasetError, EvaluationError, ReportError) as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            raise CommandError("Evaluation interrupted; the report was not written.") from None

        report = result.report
        head = report["headline"]
        at_ai = head["operating_points"]["likely_ai"]
        auc = head["roc_auc"]
        parts = [
            f"{head['images']} images ({head['real']} real, {head['ai']} AI, "
            f"{report['data']['skipped']['count']} skipped)",
            f"ROC AUC {auc:.4f}" if auc is not None else "ROC AUC n/a (one class)",
        ]
        if at_ai["fpr"] is not None:
            parts.append(
                f"real images called likely AI (P(AI) >= {at_ai['threshold']:g}): "
                f"{at_ai['confusion_matrix']['fp']}/{head['real']} = {100 * at_ai['fpr']:.2f}%"
            )
        if at_ai["tpr"] is not None:
            parts.append(f"AI images caught: {100 * at_ai['tpr']:.1f}%")
        self.stdout.write(self.style.SUCCESS(f"Wrote {out_dir / 'report.md'}: " + "; ".join(parts) + "."))
