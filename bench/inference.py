#!/usr/bin/env python
"""CPU speed of the detector on this machine, in one run.

    .venv/bin/python bench/inference.py [--checkpoint detector/weights/default.pt] [--images N] [--quick]

Prints: single-image latency (p50/p95) of Detector.score on a 1024x768 photo, score_batch
throughput for a few batch sizes, each against a plain fp32 eager batch-1 baseline taken
in the same run, the share of the machine's measured fp32 matmul peak the model reaches,
speed and max |delta p_ai| (vs fp32 eager) of each CPU option, and the cost of a heatmap
and of the stability check. Configurations are measured in interleaved rounds, so a
changing background load hits them all alike. Trains nothing: without a checkpoint it
says so and exits 2. See bench/README.md.
"""

from __future__ import annotations

import argparse
import copy
import csv
import itertools
import os
import platform
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from detector.ml.checkpoint import CheckpointError  # noqa: E402
from detector.ml.explain import heatmap  # noqa: E402
from detector.ml.inference import OPTIMIZE_TORCHSCRIPT, load_detector, set_torch_threads  # noqa: E402
from detector.ml.preprocessing import extract_tiles, to_tensor  # noqa: E402
from detector.ml.stability import measure_stability, stability_check  # noqa: E402

SHARED_TRAIN = REPO.parent / "shared" / "data" / "train"
DEFAULT_CHECKPOINT = REPO / "detector" / "weights" / "default.pt"
TEST_SIZE = (1024, 768)
CHUNK = 8  # crops per forward pass for the tiles_per_forward rows
BUSY_NOTE = "  <- busy machine: figures are noisy and low; re-take on an idle machine"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- Inputs --------------------------------------------------------------------------------------


def test_image() -> tuple[Image.Image, str]:
    """A 1024x768 photo: a Kodak (else clothing) photo resized to 1024x768, else a made-up one."""
    for source in ("kodak", "clothing"):
        folder = SHARED_TRAIN / source / "real"
        files = sorted(folder.glob("*")) if folder.is_dir() else []
        for path in files:
            try:
                with Image.open(path) as image:
                    photo = image.convert("RGB")
            except OSError:
                continue
            if photo.width < photo.height:
                photo = photo.transpose(Image.Transpose.ROTATE_90)
            described = f"{source}/{path.name} {photo.width}x{photo.height}"
            if photo.size != TEST_SIZE:
                photo = photo.resize(TEST_SIZE, Image.Resampling.BICUBIC)
                described += " resized to 1024x768"
            return photo, described
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0 : TEST_SIZE[1], 0 : TEST_SIZE[0]]
    base = np.stack([xs / 4.0, ys / 3.0, (xs + ys) / 7.0], axis=2) % 256
    pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels), "Pillow-made 1024x768 gradient + noise (no shared corpus)"


def eval_images(count: int) -> tuple[list[Image.Image], list[str], str]:
    """`count` labelled images spread over the corpus's sources and both labels (deterministic)."""
    manifest = SHARED_TRAIN / "MANIFEST.csv"
    if manifest.is_file():
        with open(manifest, newline="") as handle:
            rows = sorted(csv.DictReader(handle), key=lambda r: r["path"])
        groups: dict[tuple[str, str], list[dict]] = {}
        for row in rows:
            groups.setdefault((row["path"].split("/")[0], row["label"]), []).append(row)
        real_keys = sorted(k for k in groups if k[1] == "real")
        ai_keys = sorted(k for k in groups if k[1] == "ai")
        # Alternate labels, so that any prefix holds both.
        keys = [k for pair in itertools.zip_longest(real_keys, ai_keys) for k in pair if k is not None]
        chosen, depth = [], 0
        while len(chosen) < count and any(depth < len(groups[k]) for k in keys):
            for key in keys:
                if depth < len(groups[key]) and len(chosen) < count:
                    chosen.append(groups[key][depth])
            depth += 1
        images, labels = [], []
        for row in chosen:
            with Image.open(SHARED_TRAIN / row["path"]) as image:
                image.load()
                images.append(image.copy())
            labels.append(row["label"])
        sources = sorted({r["path"].split("/")[0] for r in chosen})
        return images, labels, f"{len(images)} corpus images ({', '.join(sources)})"
    rng = np.random.default_rng(1)
    images = [Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)) for _ in range(count)]
    return images, ["real" if i % 2 == 0 else "ai" for i in range(count)], f"{count} noise images (no corpus)"


# --- Machine -------------------------------------------------------------------------------------


def matmul_peak_gflops(threads: int, seconds: float) -> float:
    """Best fp32 torch.matmul rate (GFLOP/s) on `threads` threads: 1024x1024 products.

    Measured at the start and at the end of the run; the higher figure is reported.
    """
    set_torch_threads(threads)
    n = 1024
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(2):
        torch.matmul(a, b)
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(4):
            torch.matmul(a, b)
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def model_gflops_per_crop(model: torch.nn.Module, size: int) -> float:
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# --- Configurations ------------------------------------------------------------------------------


class _ChannelsLast(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = copy.deepcopy(model).to(memory_format=torch.channels_last)

    def forward(self, x):
        return self.model(x.contiguous(memory_format=torch.channels_last))


class _Bf16(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return self.model(x).float()


def _with_model(detector, model):
    variant = copy.copy(detector)
    variant.model = model
    return variant


def _chunked(detector, tiles_per_forward):
    variant = copy.copy(detector)
    variant.tiles_per_forward = tiles_per_forward
    return variant


def build_configs(base, checkpoint: Path, threads: int, option_threads: int, args) -> list[dict]:
    """[{name, threads, detector | error, note}] — the baseline first."""
    configs = [{"name": "fp32 eager (baseline)", "threads": threads, "detector": base, "note": "current default"}]
    if args.baseline:
        other = load_detector(args.baseline)
        configs.append({"name": "other model, fp32 eager", "threads": threads, "detector": other,
                        "note": f"--baseline {other.model_version}; deltas = the two models' disagreement"})
    for n in sorted({1, option_threads} - {threads}):
        configs.append({"name": "fp32 eager", "threads": n, "detector": base, "note": f"set_torch_threads({n})"})

    def add(name, make, n_threads=option_threads, note=""):
        start = time.perf_counter()
        try:
            set_torch_threads(1)  # building is much faster on 1 thread when the cores are busy
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                detector = make()
            configs.append({"name": name, "threads": n_threads, "detector": detector, "note": note,
                            "build_s": time.perf_counter() - start})
        except Exception as exc:  # an option this torch build cannot do: report it, go on
            configs.append({"name": name, "threads": n_threads, "error": f"{type(exc).__name__}: {exc}"[:80]})

    add("torchscript", lambda: load_detector(checkpoint, optimize=OPTIMIZE_TORCHSCRIPT), note="optimize='torchscript'")
    scripted = configs[-1]
    if option_threads != 1:
        configs.append({**scripted, "threads": 1, "note": "+ set_torch_threads(1)"})
    chunk = CHUNK
    if not args.quick:
        configs.append({"name": f"eager, {chunk} crops/fwd", "threads": option_threads,
                        "detector": _chunked(base, chunk), "note": f"tiles_per_forward={chunk}"})
    if "error" not in scripted:
        for n in sorted({1, option_threads} if not args.quick else {1}):
            configs.append({"name": f"torchscript, {chunk}/fwd", "threads": n,
                            "detector": _chunked(scripted["detector"], chunk), "note": f"+ tiles_per_forward={chunk}"})
    if not args.quick:
        add("channels_last", lambda: _with_model(base, _ChannelsLast(base.model)))
        add("bf16 autocast", lambda: _with_model(base, _Bf16(base.model)))
        add(
            "int8 dynamic (Linear)",
            lambda: _with_model(
                base,
                torch.ao.quantization.quantize_dynamic(copy.deepcopy(base.model), {torch.nn.Linear}, dtype=torch.qint8),
            ),
            note="head only",
        )
    if args.compile:
        def compiled():
            detector = _with_model(base, torch.compile(copy.deepcopy(base.model), dynamic=False))
            detector.score(TEST_IMAGE[0])  # compiles (minutes)
            return detector

        add("torch.compile", compiled, note="inductor; recompiles per crop count")
    return configs


# --- Measurement ---------------------------------------------------------------------------------


def interleaved(jobs: dict, *, min_rounds: int, max_rounds: int, budget_s: float, warmup: int) -> dict:
    """Seconds per call for each job {name: (threads, fn)}, measured in alternating rounds."""
    for threads, fn in jobs.values():
        set_torch_threads(threads)
        for _ in range(warmup):
            fn()
    times = {name: [] for name in jobs}
    start = time.perf_counter()
    for round_ in range(max_rounds):
        for name, (threads, fn) in jobs.items():
            set_torch_threads(threads)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        if round_ + 1 >= min_rounds and time.perf_counter() - start > budget_s:
            break
    return times


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--images", type=int, default=None,
                        help="labelled images for the score-change and stability checks (default 12, quick 4)")
    parser.add_argument("--quick", action="store_true", help="fewer options and repetitions (under a minute)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the option rows (default: torch's default, one per core)")
    parser.add_argument("--compile", action="store_true", help="also try torch.compile (minutes of compiling)")
    parser.add_argument("--baseline", default=None,
                        help="another checkpoint timed beside --checkpoint in the same run (e.g. the previous default)")
    args = parser.parse_args(argv)
    quick = args.quick
    n_images = args.images if args.images is not None else (4 if quick else 12)

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        print(f"No checkpoint at {checkpoint}: train one first (manage.py train_detector ...) or pass --checkpoint. "
              f"This benchmark trains nothing.")
        return 2
    try:
        base = load_detector(checkpoint)
    except CheckpointError as exc:
        print(f"Cannot use {checkpoint}: {exc}")
        return 2

    started = time.perf_counter()
    threads = torch.get_num_threads()
    option_threads = args.threads or threads
    load_start = os.getloadavg()
    global TEST_IMAGE
    TEST_IMAGE = test_image()
    image, image_desc = TEST_IMAGE
    images, labels, images_desc = eval_images(n_images)
    crops = len(extract_tiles(image, base.preprocessing).images)
    size = base.preprocessing.input_size

    log("measuring matmul peak ...")
    peak = {t: matmul_peak_gflops(t, 1.0 if quick else 2.0) for t in sorted({1, threads, option_threads})}
    gflops = model_gflops_per_crop(base.model, size)

    log("preparing configurations ...")
    configs = build_configs(base, checkpoint, threads, option_threads, args)
    usable = [c for c in configs if "error" not in c]
    key = lambda c: f"{c['name']}|{c['threads']}"  # noqa: E731

    log("checking score changes ...")
    set_torch_threads(threads)
    reference = base.score_batch(images)
    for config in usable:
        set_torch_threads(config["threads"])
        scores = config["detector"].score_batch(images)
        config["dp"] = max(abs(a.p_ai - b.p_ai) for a, b in zip(scores, reference))
        config["dlogit"] = max(abs(a.logit - b.logit) for a, b in zip(scores, reference))

    log("single-image latency ...")
    latency = interleaved(
        {key(c): (c["threads"], lambda d=c["detector"]: d.score(image)) for c in usable},
        min_rounds=3 if quick else 5, max_rounds=4 if quick else 20,
        budget_s=6 if quick else 45, warmup=1 if quick else 2,
    )
    batch_sizes = [4] if quick else [4, 8]
    throughput = {}
    for batch in batch_sizes:
        log(f"throughput, batch {batch} ...")
        throughput[batch] = interleaved(
            {key(c): (c["threads"], lambda d=c["detector"], b=batch: d.score_batch([image] * b)) for c in usable},
            min_rounds=1 if quick else 2, max_rounds=1 if quick else 3,
            budget_s=0 if quick else 20, warmup=0 if quick else 1,
        )

    # Heatmap and stability check on the eager model, with the faster of the eager thread counts.
    eager = [c for c in usable if c["detector"] is base]
    extra_threads = min(eager, key=lambda c: pct(latency[key(c)], 50))["threads"]
    log(f"preprocessing, heatmap and stability check ({extra_threads} threads) ...")
    extras = interleaved(
        {
            "score": (extra_threads, lambda: base.score(image)),
            "preprocessing only": (
                extra_threads,
                lambda: to_tensor(extract_tiles(image, base.preprocessing).images, base.preprocessing),
            ),
            "heatmap": (extra_threads, lambda: heatmap(base, image)),
            **({"NPR patch models only": (extra_threads, lambda: base.npr_logits([image]))}
               if base.patch_model is not None else {}),
            "stability_check": (extra_threads, lambda: stability_check(base, image)),
        },
        min_rounds=1 if quick else 3, max_rounds=1 if quick else 6,
        budget_s=0 if quick else 30, warmup=0 if quick else 1,
    )
    heat_crops = heatmap(base, image).crops
    set_torch_threads(extra_threads)
    report = measure_stability(base, images, labels)
    # The peak again, so that a burst of background load during the first try does not count.
    peak = {t: max(v, matmul_peak_gflops(t, 1.0 if quick else 2.0)) for t, v in peak.items()}
    load_end = os.getloadavg()

    # --- Report ---
    base_p50 = pct(latency[key(configs[0])], 50)
    print(f"detector   {base.model_version} ({base.arch}), crops of {size}px, max_tiles {base.preprocessing.max_tiles}")
    print(f"machine    {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads by default, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"load avg   {load_start[0]:.2f} at start, {load_end[0]:.2f} at end"
          + (BUSY_NOTE if max(load_start[0], load_end[0]) > 0.5 * (os.cpu_count() or 1) else ""))
    print(f"image      {image_desc}: {crops} crops per score")
    peaks = ", ".join(f"{v:.1f} GFLOP/s on {t} thread{'s' if t > 1 else ''}" for t, v in peak.items())
    print(f"peak       fp32 matmul {peaks}")
    print(f"model      {gflops:.3f} GFLOP per {size}x{size} crop (FlopCounterMode: 2 x multiply-adds)")
    print(f"deltas     max |delta p_ai| / |delta logit| vs fp32 eager on {images_desc}; "
          f"their p_ai spans {min(r.p_ai for r in reference):.3f}..{max(r.p_ai for r in reference):.3f}")
    print()
    header = (
        f"{'configuration':<24}{'thr':>4}{'batch':>6}{'p50 ms':>9}{'p95 ms':>9}{'img/s':>8}{'x base':>8}"
        f"{'crops/s':>9}{'%peak':>7}{'max|dp|':>10}{'max|dlogit|':>12}  note"
    )
    print(header)
    print("-" * len(header))
    for config in configs:
        if "error" in config:
            print(f"{config['name']:<24}{config['threads']:>4}   n/a: {config['error']}")
            continue
        name = key(config)
        rows = [(1, latency[name])] + [(b, throughput[b][name]) for b in batch_sizes]
        for batch, values in rows:
            p50 = pct(values, 50)
            ips = batch / p50
            cps = ips * crops
            share = 100 * gflops * cps / peak[config["threads"]]
            p95 = f"{pct(values, 95) * 1000:9.0f}" if batch == 1 else f"{'':>9}"
            deltas = f"{config['dp']:10.1e}{config['dlogit']:12.1e}" if batch == 1 else f"{'':>22}"
            note = config.get("note", "") if batch == 1 else ""
            if batch == 1 and "build_s" in config and config is not configs[0]:
                note += f" (build {config['build_s']:.1f}s)"
            print(f"{config['name'] if batch == 1 else '':<24}{config['threads']:>4}{batch:>6}{p50 * 1000:9.0f}{p95}"
                  f"{ips:8.2f}{ips * base_p50:8.2f}{cps:9.1f}{share:7.1f}{deltas}  {note}")
    print()
    score_p50 = pct(extras["score"], 50)
    print(f"{'eager, per 1024x768 image, ' + str(extra_threads) + ' thread(s)':<40}{'p50 ms':>9}{'x score':>9}")
    for name in ("score", "preprocessing only", "NPR patch models only", "heatmap", "stability_check"):
        if name not in extras:
            continue
        p50 = pct(extras[name], 50)
        extra = f"  ({heat_crops} crops)" if name == "heatmap" else ""
        print(f"{name:<40}{p50 * 1000:9.0f}{p50 / score_p50:9.2f}{extra}")
    print()
    print(f"stability rule on {images_desc}: {report.flipped} verdicts flipped; "
          f"false positives saved {report.false_positives_saved} of {report.real_likely_ai} "
          f"real images called likely_ai; "
          f"true positives lost {report.true_positives_lost} of {report.ai_likely_ai} AI images called likely_ai; "
          f"likely_human -> uncertain: {report.real_likely_human_to_uncertain} real, "
          f"{report.ai_likely_human_to_uncertain} AI; "
          f"max |delta p| {report.max_abs_delta_p:.3f}; extra {report.extra_seconds_per_image * 1000:.0f} ms per image")
    print(f"total bench time {time.perf_counter() - started:.0f} s")
    return 0


TEST_IMAGE: tuple[Image.Image, str] = (None, "")  # type: ignore[assignment]

if __name__ == "__main__":
    sys.exit(main())
