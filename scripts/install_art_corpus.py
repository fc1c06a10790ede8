#!/usr/bin/env python3
"""Install the human-made artwork that Debian packages ship, and index it for training.

The training corpus has only 20 human-made illustrations while art contests are a core
use, so these pre-generator, freely licensed paintings, wallpapers and photographs are
added as `real` images. Usage (as root, or with the packages already installed):

    python3 scripts/install_art_corpus.py [--out var/art-corpus] [--no-install]

It writes OUT/<package>/real/<artwork>/<file> symlinks and OUT/MANIFEST.csv. Every size or
variant of one artwork shares an <artwork> folder, so the trainer keeps them in one split.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = {
    "wesnoth-1.16-data": "/usr/share/games/wesnoth/1.16/data/core/images/portraits",
    "plasma-workspace-wallpapers": "/usr/share/wallpapers",
    "gnome-backgrounds": "/usr/share/backgrounds/gnome",
    "mate-backgrounds": "/usr/share/backgrounds/mate",
    "desktop-base": "/usr/share/desktop-base",
}
RASTER = {".png", ".jpg", ".jpeg", ".webp"}
MIN_SIDE = 128  # icons and thumbnails say nothing about artwork


def artwork_key(package: str, relative: Path) -> str:
    """Which artwork a file shows, so all its sizes and variants stay together."""
    parts = relative.parts
    if package == "plasma-workspace-wallpapers":
        return re.sub(r"(LockScreen|WithLogo|Inksplat)$", "", parts[0])
    if package == "gnome-backgrounds":
        return re.sub(r"-(l|d|light|dark|day|night|morning)$", "", relative.stem)
    if package == "desktop-base":
        return re.sub(r"-(theme|lockscreen|login|wallpaper|grub)$", "", parts[0])
    if package == "wesnoth-1.16-data":
        folder = [p for p in parts[:-1] if p != "transparent"]
        return "_".join(folder + [relative.stem])
    return relative.with_suffix("").as_posix().replace("/", "_")


def install(packages) -> None:
    missing = [p for p, path in packages.items() if not Path(path).exists()]
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        sys.exit(f"Install these Debian packages first (as root): apt-get install -y {' '.join(missing)}")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def index(out: Path) -> int:
    try:
        from PIL import Image
    except ImportError:
        sys.exit("Pillow is missing: run this with the project's environment, .venv/bin/python scripts/install_art_corpus.py")

    out.mkdir(parents=True, exist_ok=True)
    rows, seen = [], set()
    for package, root in PACKAGES.items():
        root_path = Path(root)
        if not root_path.exists():
            print(f"skipping {package}: {root} not found", file=sys.stderr)
            continue
        for path in sorted(root_path.rglob("*")):
            if path.suffix.lower() not in RASTER or not path.is_file():
                continue
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest in seen:
                continue
            try:
                with Image.open(path) as image:
                    width, height = image.size
                    image.load()
            except Exception as exc:
                print(f"skipping unreadable {path}: {exc}", file=sys.stderr)
                continue
            if min(width, height) < MIN_SIDE:
                continue
            seen.add(digest)
            relative = path.relative_to(root_path)
            artwork = re.sub(r"[^A-Za-z0-9._-]+", "_", artwork_key(package, relative))
            link = out / package / "real" / artwork / f"{digest[:12]}_{path.name}"
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(path)
            rows.append({
                "path": link.relative_to(out).as_posix(),
                "label": "real",
                "generator": "human-made (Debian package artwork)",
                "source_repo": f"debian:{package}",
                "source_path": str(path),
                "license": f"see /usr/share/doc/{package}/copyright",
                "width": width,
                "height": height,
                "sha256": digest,
            })
    with open(out / "MANIFEST.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["path", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "var" / "art-corpus")
    parser.add_argument("--no-install", action="store_true", help="only index what is installed")
    args = parser.parse_args()
    if not args.no_install:
        install(PACKAGES)
    count = index(args.out)
    print(f"Indexed {count} human-made images into {args.out / 'MANIFEST.csv'}")


if __name__ == "__main__":
    main()
