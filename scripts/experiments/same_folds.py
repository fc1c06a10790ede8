"""Shared by extension_same_folds.py and npr_extension_same_folds.py: their arguments, and where a
difference comes from, source by source. Nothing in the app imports this."""

from __future__ import annotations

import numpy as np


def add_extension_arguments(parser) -> None:
    """The base and extended corpora, the checkpoint whose folds are kept, and --by-source."""
    parser.add_argument("--base", nargs="+", required=True, help="the checkpoint's training folders")
    parser.add_argument("--extended", nargs="+", required=True, help="the same folders with new sources added")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--by-source", default="", metavar="SOURCE[,SOURCE]",
                        help="also print the AUC with each of these sources left out of the scoring, within each, "
                             "and each one's real images against every other source's AI images")


def named_sources(by_source: str, known) -> list[str]:
    """The sources --by-source names, each checked against the base corpus (before any long work)."""
    names = [s.strip() for s in by_source.split(",") if s.strip()]
    unknown = [name for name in names if name not in set(known)]
    if unknown:
        raise SystemExit(f"--by-source: no base source is called {', '.join(map(repr, unknown))}.")
    return names


def print_by_source(name: str, before, after, labels, judged, source_of, sources) -> None:
    """For each source of `sources` (from named_sources): the paired AUC difference without it, within it,
    and of its real images against every other source's AI images (1 = AI in `labels`)."""
    from detector.ml.metrics import paired_auc_difference, roc_auc

    for source in sources:
        own = source_of == source
        masks = {f"without {source}": judged & ~own, f"within {source}": judged & own,
                 f"{source} real vs other sources' AI": judged & ((own & (labels == 0)) | (~own & (labels == 1)))}
        for what, mask in masks.items():
            if len(set(np.asarray(labels)[mask].tolist())) < 2:
                continue
            diff, low, high = paired_auc_difference(labels[mask], before[mask], after[mask])
            print(f"    {name}, {what}: {roc_auc(labels[mask], before[mask]):.4f} -> "
                  f"{roc_auc(labels[mask], after[mask]):.4f}; {diff:+.4f} ({low:+.4f} to {high:+.4f})")
