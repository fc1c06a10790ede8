#!/usr/bin/env python3
"""Build, or rebuild and verify, the broad real-vs-AI corpus from git mirrors and Debian packages.

    python3 scripts/build_corpus.py --out var/corpus                      # select from the sources
    python3 scripts/build_corpus.py --out var/corpus --check scripts/corpus/MANIFEST.csv

The first form reads every source of scripts/corpus/sources.json (a git mirror made with the
search tool's fetch, an installed Debian package, or a local folder), keeps files that decode
fully and are large enough, drops exact (sha256) and near (64-bit difference hash) duplicates
across the whole corpus and against `--exclude-manifest` files, caps each source, and writes
OUT/<source>/<real|ai>/<sha256[:12]>_<name> (original bytes, never re-encoded) with
OUT/MANIFEST.csv. The second form copies exactly the files a manifest lists from the same
origins and fails unless every sha256 matches, so anyone can rebuild the exact corpus.

Images never go into git; the manifest does. Sources with role "wild" form the in-the-wild
evaluation set: `--role train` or `--role wild` writes only one of the two, selected as part of the
whole corpus (the same files, and no file of one role a duplicate of the other's).
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import hashlib
import io
import json
import os
import random
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCES = ROOT / "scripts" / "corpus" / "sources.json"
DEFAULT_MIRRORS = Path(os.environ.get("AIORNOT_MIRRORS", "/work/.mirror"))
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
MANIFEST_FIELDS = [
    "path", "label", "generator", "family", "kind", "role", "source", "origin", "version",
    "source_path", "licence", "width", "height", "sha256",
]
DEFAULT_MIN_SIDE = 128
DEFAULT_CAP = 400
MAX_TRANSPARENT_SHARE = 0.25
NEAR_DUPLICATE_BITS = 4
# dcsan/imagen names each render by the model that made it (its data/configs.py).
RENDER_PREFIX_FAMILY = {
    "midj": ("midjourney", "Midjourney (2022)"), "stab": ("sd1", "Stable Diffusion 1.x"),
    "dal2": ("dalle2", "DALL-E 2"), "simu": ("simulacra", "Simulacra (CLIP-guided diffusion)"),
    "mdif": ("majesty", "Majesty Diffusion"), "disco": ("disco", "Disco Diffusion"),
    "dmin": ("dalle-mini", "DALL-E mini"), "glid3": ("glid3", "GLID-3"),
    "ldif": ("latent-diffusion", "Latent Diffusion (CompVis)"),
}
# WT-MM/NUS2023 names each image by its model.
NAMED_FAMILY = [("sdxl_", ("sdxl", "SDXL")), ("dalle2_", ("dalle2", "DALL-E 2")), ("sd", ("sd2", "Stable Diffusion 2.1"))]


class CorpusError(Exception):
    """A source cannot be read, or a rebuilt file does not match its manifest."""


@dataclass
class Candidate:
    """One file a source offers, before it is checked."""

    source: dict
    source_path: str
    origin: str  # "owner/name" for a repository, the package name, or a folder
    version: str  # commit, package version, or "" for a folder
    read: object  # () -> bytes


def load_sources(path=DEFAULT_SOURCES) -> list[dict]:
    """The source list, each with its defaults filled in."""
    data = json.loads(Path(path).read_text())
    sources = data["sources"] if isinstance(data, dict) else data
    names = set()
    for source in sources:
        if source["name"] in names:
            raise CorpusError(f"Source name {source['name']!r} appears twice in {path}.")
        names.add(source["name"])
        if source.get("label") not in ("real", "ai"):
            raise CorpusError(f"Source {source['name']!r} has no label real or ai.")
        if source.get("role", "train") not in ("train", "wild"):
            raise CorpusError(f"Source {source['name']!r} has role {source.get('role')!r}; use train or wild.")
        source.setdefault("role", "train")
        source.setdefault("exclude", [])
        source.setdefault("family", "real" if source["label"] == "real" else "unknown")
    return sources


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _matches(path: str, patterns) -> bool:
    # fnmatch's "*" also crosses "/", so "**" and "*" both reach any depth.
    return any(fnmatch.fnmatch(path, pattern) for pattern in patterns)


def mirror_dir(repo: str, mirrors: Path) -> Path:
    """The git directory of a fetched mirror: `<owner>+<name>/repo`, or its `.git` where fetch left a work tree."""
    bare = Path(mirrors) / repo.replace("/", "+") / "repo"
    return bare / ".git" if (bare / ".git").is_dir() else bare


def _git(git_dir: Path, *args, binary=False):
    result = subprocess.run(["git", f"--git-dir={git_dir}", *args], capture_output=True)
    if result.returncode != 0:
        raise CorpusError(f"git {' '.join(args)} in {git_dir} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout if binary else result.stdout.decode()


def repo_candidates(source: dict, mirrors: Path) -> list[Candidate]:
    git_dir = mirror_dir(source["repo"], mirrors)
    if not git_dir.is_dir():
        raise CorpusError(f"No git mirror of {source['repo']} at {git_dir}: fetch it first (search tool, fetch github:{source['repo']}).")
    commit = _git(git_dir, "rev-parse", f"{source['commit']}^{{commit}}").strip()
    listing = _git(git_dir, "ls-tree", "-r", "-z", commit, binary=True).split(b"\0")
    found = []
    for entry in listing:
        if not entry:
            continue
        meta, path = entry.decode(errors="surrogateescape").split("\t", 1)
        _mode, kind, oid = meta.split()
        if kind != "blob" or Path(path).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if _matches(path, source["include"]) and not _matches(path, source["exclude"]):
            found.append(Candidate(source, path, source["repo"], source["commit"],
                                   lambda oid=oid: _git(git_dir, "cat-file", "blob", oid, binary=True)))
    return found


def package_version(package: str) -> str:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def folder_candidates(source: dict, root: Path, origin: str, version: str) -> list[Candidate]:
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(dirpath) / name
            text = str(path)
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.is_symlink():
                continue
            if _matches(text, source["include"]) and not _matches(text, source["exclude"]):
                found.append(Candidate(source, text, origin, version, lambda path=path: path.read_bytes()))
    return found


def package_candidates(source: dict) -> list[Candidate]:
    packages = [source["package"], *source.get("also_packages", [])]
    versions = {p: package_version(p) for p in packages}
    if not any(versions.values()):
        raise CorpusError(f"Debian package {source['package']} is not installed: apt-get install -y {' '.join(packages)}")
    owner = {}
    for package in packages:
        if versions[package]:
            listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True).stdout
            owner.update({line.strip(): package for line in listing.splitlines()})
    roots = sorted({_static_prefix(p) for p in source["include"]})
    found, seen = [], set()
    for root in roots:
        for candidate in folder_candidates(source, Path(root), source["package"], versions[source["package"]]):
            if candidate.source_path not in seen and candidate.source_path in owner:
                seen.add(candidate.source_path)
                candidate.origin = owner[candidate.source_path]
                candidate.version = versions[candidate.origin]
                found.append(candidate)
    return found


def _static_prefix(pattern: str) -> str:
    parts = []
    for part in pattern.split("/"):
        if any(ch in part for ch in "*?["):
            break
        parts.append(part)
    return "/".join(parts) or "/"


def candidates_for(source: dict, mirrors: Path) -> list[Candidate]:
    if "repo" in source:
        return repo_candidates(source, mirrors)
    if "package" in source:
        return package_candidates(source)
    if "folder" in source:
        return folder_candidates(source, Path(source["folder"]), source["folder"], "")
    raise CorpusError(f"Source {source['name']!r} names no repo, package or folder.")


def family_and_generator(source: dict, source_path: str) -> tuple[str, str]:
    name = Path(source_path).name.lower()
    if source.get("family") == "by-prefix":
        prefix = name.split("-", 1)[0]
        return RENDER_PREFIX_FAMILY.get(prefix, ("", ""))
    if source.get("family") == "by-name":
        for start, value in NAMED_FAMILY:
            if name.startswith(start):
                return value
        return "", ""
    return source["family"], source["generator"]


def inspect_image(data: bytes) -> tuple[int, int, float]:
    """(width, height, transparent share) after a full decode; raises on a broken file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            width, height = image.size
            transparent = 0.0
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                alpha = image.convert("RGBA").getchannel("A").resize((64, 64))
                transparent = sum(1 for v in alpha.tobytes() if v < 128) / (64 * 64)
    return width, height, transparent


def difference_hash(data: bytes) -> int:
    """64-bit difference hash of the image (grey, 9x8): near-duplicates differ in a few bits."""
    with Image.open(io.BytesIO(data)) as image:
        grey = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
        pixels = list(grey.tobytes())
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (pixels[row * 9 + col] > pixels[row * 9 + col + 1])
    return bits


def _safe_name(source_path: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source_path).name)
    return name[-80:] or "image"


def select(sources, mirrors: Path, *, exclude_sha256=(), seed=0, log=print) -> list[tuple[dict, bytes]]:
    """Check, deduplicate and cap every source; returns (manifest row, bytes) pairs."""
    rng = random.Random(seed)
    seen_sha = set(exclude_sha256)
    kept_hashes: list[int] = []
    rows = []
    for source in sources:
        candidates = candidates_for(source, mirrors)
        rng.shuffle(candidates)
        cap = int(source.get("cap", DEFAULT_CAP))
        min_side = int(source.get("min_side", DEFAULT_MIN_SIDE))
        taken = dropped_dup = dropped_bad = absent = 0
        for candidate in sorted(candidates, key=lambda c: c.source_path) if cap >= len(candidates) else candidates:
            if taken >= cap:
                break
            try:
                data = candidate.read()
            except CorpusError:  # snapshots leave out files of 4 MiB or more
                absent += 1
                continue
            try:
                width, height, transparent = inspect_image(data)
            except Exception:
                dropped_bad += 1
                continue
            if min(width, height) < min_side or width < source.get("min_width", 0) or max(width, height) > 12 * min(width, height) or transparent > float(source.get("max_transparent", MAX_TRANSPARENT_SHARE)):
                dropped_bad += 1
                continue
            family, generator = family_and_generator(source, candidate.source_path)
            if source["label"] == "ai" and not family:
                dropped_bad += 1
                continue
            digest = sha256_bytes(data)
            dhash = difference_hash(data)
            if digest in seen_sha or any(bin(dhash ^ other).count("1") <= NEAR_DUPLICATE_BITS for other in kept_hashes):
                dropped_dup += 1
                continue
            seen_sha.add(digest)
            kept_hashes.append(dhash)
            path = f"{source['name']}/{source['label']}/{digest[:12]}_{_safe_name(candidate.source_path)}"
            rows.append(({
                "path": path, "label": source["label"], "generator": generator, "family": family,
                "kind": source.get("kind", ""), "role": source["role"], "source": source["name"],
                "origin": candidate.origin, "version": candidate.version, "source_path": candidate.source_path,
                "licence": source.get("licence", ""), "width": width, "height": height, "sha256": digest,
            }, data))
            taken += 1
        log(f"{source['name']:28s} {source['role']:5s} {source['label']:4s} kept {taken:4d} of {len(candidates):5d} "
            f"(duplicates {dropped_dup}, unusable or too small {dropped_bad}, absent from the snapshot {absent})")
    return rows


def write_corpus(rows, out: Path) -> Path:
    """Write the files and OUT/MANIFEST.csv; returns the manifest path."""
    out.mkdir(parents=True, exist_ok=True)
    for row, data in rows:
        target = out / row["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or sha256_bytes(target.read_bytes()) != row["sha256"]:
            target.write_bytes(data)
    manifest = out / "MANIFEST.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        for row, _data in rows:
            writer.writerow(row)
    return manifest


def read_manifest(path) -> list[dict]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = set(MANIFEST_FIELDS) - set(rows[0] if rows else MANIFEST_FIELDS)
    if missing:
        raise CorpusError(f"{path} lacks the columns {', '.join(sorted(missing))}.")
    return rows


def rebuild(manifest_rows, sources, mirrors: Path, out: Path, *, log=print) -> int:
    """Copy exactly the manifest's files from their origins; raise CorpusError on any sha256 mismatch."""
    by_name = {s["name"]: s for s in sources}
    wanted: dict[str, list[dict]] = {}
    for row in manifest_rows:
        wanted.setdefault(row["source"], []).append(row)
    mismatched, missing, written = [], [], []
    for name, rows in wanted.items():
        if name not in by_name:
            raise CorpusError(f"The manifest names source {name!r}, which the source list does not have.")
        offered = {c.source_path: c for c in candidates_for(by_name[name], mirrors)}
        for row in rows:
            candidate = offered.get(row["source_path"])
            if candidate is None:
                missing.append(f"{name}: {row['source_path']}")
                continue
            try:
                data = candidate.read()
            except CorpusError:
                missing.append(f"{name}: {row['source_path']}")
                continue
            if sha256_bytes(data) != row["sha256"]:
                mismatched.append(f"{row['path']} (expected {row['sha256'][:12]}, got {sha256_bytes(data)[:12]})")
                continue
            written.append((row, data))
    if missing or mismatched:
        lines = [f"missing at its origin: {m}" for m in missing[:10]] + [f"sha256 mismatch: {m}" for m in mismatched[:10]]
        raise CorpusError(f"{len(missing)} file(s) missing and {len(mismatched)} changed; nothing written.\n" + "\n".join(lines))
    write_corpus(written, out)
    log(f"Rebuilt {len(written)} files into {out}; every sha256 matches.")
    return len(written)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder to write the corpus into")
    parser.add_argument("--sources", type=Path, default=DEFAULT_SOURCES)
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="folder of fetched git mirrors")
    parser.add_argument("--check", type=Path, help="rebuild exactly this manifest and verify every sha256")
    parser.add_argument("--role", choices=["train", "wild", "all"], default="all")
    parser.add_argument("--exclude-manifest", type=Path, action="append", default=[],
                        help="a MANIFEST.csv with a sha256 column whose files must not be selected again")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        sources = load_sources(args.sources)
        if args.check:
            rows = read_manifest(args.check)
            if args.role != "all":
                rows = [r for r in rows if r["role"] == args.role]
            rebuild(rows, sources, args.mirrors, args.out)
            return 0
        excluded = set()
        for manifest in args.exclude_manifest:
            with open(manifest, newline="") as handle:
                excluded.update(row["sha256"] for row in csv.DictReader(handle) if row.get("sha256"))
        # Every source is selected even for one role: the duplicates are dropped across both roles (an
        # evaluation image must not be a copy of a training one) and the draws are those of the whole corpus.
        rows = select(sources, args.mirrors, exclude_sha256=excluded, seed=args.seed)
        if args.role != "all":
            rows = [(row, data) for row, data in rows if row["role"] == args.role]
        manifest = write_corpus(rows, args.out)
        counts = {}
        for row, _ in rows:
            key = (row["role"], row["label"])
            counts[key] = counts.get(key, 0) + 1
        print(f"Wrote {len(rows)} files and {manifest}: " + ", ".join(f"{r}/{l} {n}" for (r, l), n in sorted(counts.items())))
        return 0
    except (CorpusError, OSError, json.JSONDecodeError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
