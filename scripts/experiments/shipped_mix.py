"""Shared by the feature experiments: the shipped checkpoint's NPR part, and one probe row mixed with it.

The experiments that try other probe features (gram_features.py, whole_view_scales.py,
small_copy_weight.py) all compare rows the same way: a linear head fitted with the shipped recipe
(original + JPEG q75/half copies, per-image source weights, 5 folds by source), Platt-scaled on
its out-of-source logits, then mixed with the shipped checkpoint's NPR part as the detector mixes
it (the stored out-of-source NPR logits; in the wild its five members averaged). Call after
django.setup(); nothing in the app imports this.
"""
from __future__ import annotations

import numpy as np


def shipped_npr_parts(checkpoint_path, images, wild, *, cache_dir, variants, log):
    """(out-of-source NPR part, wild NPR part, NPR share) of the shipped checkpoint, per variant."""
    from detector.ml.architectures import model_for_state_dict
    from detector.ml.checkpoint import read_checkpoint
    from detector.ml.digests import file_sha256
    from detector.ml.npr import members_logits
    from detector.ml.npr_training import NPRPart, image_crops

    checkpoint = read_checkpoint(checkpoint_path)
    npr_args = checkpoint.training_args["npr"]
    table = npr_args["out_of_source_logits"]
    platt = tuple(npr_args["platt"])
    stored = np.array([table[file_sha256(i.sample.path)] for i in images], dtype=np.float64)
    npr_oos = NPRPart([], {v: stored[:, k] for k, v in enumerate(variants)}, platt=platt)
    model = model_for_state_dict(checkpoint.arch, checkpoint.state_dict)
    model.load_state_dict(checkpoint.state_dict, strict=True)
    model.eval()
    crops, _ = image_crops(wild, cache_dir=cache_dir, variants=variants, log=log)
    npr_wild = NPRPart([], {v: members_logits(model.npr, crops[:, k]) for k, v in enumerate(variants)}, platt=platt)
    return npr_oos, npr_wild, float(npr_args.get("npr_weight", 0.5))


def mixed_row(x, y, weights, folds, trainable, judged, npr, *, variants, l2):
    """(mixed out-of-source logits, mixed wild logits, probe out-of-source, probe wild), each {variant: logits}.

    x: {("train" or "wild", variant): features}; the head trains on the first two variants
    (original and its re-saved copy) of the trainable images outside each fold.
    """
    from detector.ml.npr_training import mix_logits
    from detector.ml.probe import fit_linear_head, fit_platt

    npr_oos, npr_wild, share = npr
    clean, resaved = variants[0], variants[1]

    def fit(mask):
        return fit_linear_head(np.r_[x[("train", clean)][mask], x[("train", resaved)][mask]],
                               np.r_[y[mask], y[mask]], np.r_[weights[mask], weights[mask]], l2=l2)

    oos = {v: np.zeros(len(y)) for v in variants}
    for fold in sorted(set(folds.tolist())):
        head = fit((folds != fold) & trainable)
        for v in variants:
            oos[v][folds == fold] = head.logits(x[("train", v)][folds == fold])
    slope, intercept = fit_platt(oos[clean][judged], y[judged], weights[judged])
    probe_oos = {v: slope * logits + intercept for v, logits in oos.items()}
    head = fit(trainable)
    probe_wild = {v: slope * head.logits(x[("wild", v)]) + intercept for v in variants}
    return (mix_logits(probe_oos, npr_oos, (1.0, 0.0), share), mix_logits(probe_wild, npr_wild, (1.0, 0.0), share),
            probe_oos, probe_wild)


def print_rows(rows, y, judged, y_wild, judged_wild, *, variants, base_label):
    """The experiments' table (probe part and mixed AUC, out of source and wild, clean and re-saved) and
    each row's paired bootstrap against `base_label`'s row; rows: {label: mixed_row(...)}."""
    from detector.ml.metrics import paired_auc_difference, roc_auc

    clean, resaved = variants[0], variants[1]

    def auc(yy, mask, logits, v):
        return roc_auc(yy[mask], logits[v][mask])

    print("| probe features | probe part OOS: clean / re-saved | mixed OOS: clean / re-saved (gap) | "
          "probe part wild: clean / re-saved | mixed wild: clean / re-saved (gap) |")
    print("|---|---|---|---|---|")
    for label, (mo, mw, po, pw) in rows.items():
        a, b = auc(y, judged, mo, clean), auc(y, judged, mo, resaved)
        c, d = auc(y_wild, judged_wild, mw, clean), auc(y_wild, judged_wild, mw, resaved)
        print(f"| {label} | {auc(y, judged, po, clean):.3f} / {auc(y, judged, po, resaved):.3f} | "
              f"{a:.3f} / {b:.3f} ({a - b:.3f}) | {auc(y_wild, judged_wild, pw, clean):.3f} / "
              f"{auc(y_wild, judged_wild, pw, resaved):.3f} | {c:.3f} / {d:.3f} ({c - d:.3f}) |", flush=True)

    print(f"\nPaired bootstrap of the mixed model against the row '{base_label}' (difference, 95% interval):")
    base = rows[base_label]
    for label, (mo, mw, _po, _pw) in rows.items():
        if label == base_label:
            continue
        parts = []
        for name, yy, mask, a, b in (("OOS", y, judged, base[0], mo), ("wild", y_wild, judged_wild, base[1], mw)):
            for v in variants:
                diff, lo, hi = paired_auc_difference(yy[mask], a[v][mask], b[v][mask])
                parts.append(f"{name} {v} {diff:+.3f} ({lo:+.3f} to {hi:+.3f})")
        print(f"- {label}: " + "; ".join(parts), flush=True)
