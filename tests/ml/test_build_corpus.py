"""scripts/build_corpus.py: selection, deduplication, the manifest, and the sha256-checked rebuild."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from tests.scripts import load_script as load


def load_script():
    return load("build_corpus.py")


def picture(path: Path, seed: int, size=(200, 160)):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(8, 10, 3), dtype=np.uint8)
    Image.fromarray(base).resize(size, Image.Resampling.BICUBIC).save(path)


def make_sources(tmp_path: Path) -> Path:
    photos, gen = tmp_path / "photos", tmp_path / "gen"
    photos.mkdir()
    gen.mkdir()
    for i in range(4):
        picture(photos / f"p{i}.png", i)
        picture(gen / f"g{i}.png", 100 + i)
    (photos / "p0-copy.png").write_bytes((photos / "p0.png").read_bytes())  # exact duplicate
    picture(photos / "tiny.png", 7, size=(40, 40))  # too small
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # does not decode
    sources = {"sources": [
        {"name": "my_photos", "role": "train", "label": "real", "kind": "photo", "generator": "camera",
         "folder": str(photos), "include": [f"{photos}/*"], "licence": "CC0"},
        {"name": "my_gen", "role": "wild", "label": "ai", "family": "testgen", "generator": "TestGen 1",
         "folder": str(gen), "include": [f"{gen}/*"], "licence": "CC0"},
    ]}
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(sources))
    return path


def read_rows(manifest: Path):
    with manifest.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_build_keeps_each_picture_once_and_records_its_sha256(tmp_path):
    script = load_script()
    sources = make_sources(tmp_path)
    assert script.main(["--out", str(tmp_path / "corpus"), "--sources", str(sources)]) == 0
    rows = read_rows(tmp_path / "corpus" / "MANIFEST.csv")
    assert sorted(r["source"] for r in rows) == ["my_gen"] * 4 + ["my_photos"] * 4  # copy, tiny, broken dropped
    for row in rows:
        data = (tmp_path / "corpus" / row["path"]).read_bytes()
        assert script.sha256_bytes(data) == row["sha256"]
        assert row["path"].startswith(f"{row['source']}/{row['label']}/")
    assert {r["family"] for r in rows if r["label"] == "ai"} == {"testgen"}


def test_rebuild_from_the_manifest_checks_every_sha256(tmp_path):
    script = load_script()
    sources = make_sources(tmp_path)
    script.main(["--out", str(tmp_path / "corpus"), "--sources", str(sources)])
    manifest = tmp_path / "corpus" / "MANIFEST.csv"
    assert script.main(["--out", str(tmp_path / "again"), "--sources", str(sources), "--check", str(manifest)]) == 0
    assert read_rows(tmp_path / "again" / "MANIFEST.csv") == read_rows(manifest)

    # One origin file changes: the rebuild refuses, names it, and writes nothing.
    picture(tmp_path / "photos" / "p1.png", 999)
    code = script.main(["--out", str(tmp_path / "third"), "--sources", str(sources), "--check", str(manifest)])
    assert code == 2
    assert not (tmp_path / "third" / "MANIFEST.csv").exists()


def test_rebuild_error_names_the_changed_file(tmp_path, capsys):
    script = load_script()
    sources = make_sources(tmp_path)
    script.main(["--out", str(tmp_path / "corpus"), "--sources", str(sources)])
    picture(tmp_path / "gen" / "g2.png", 555)
    script.main(["--out", str(tmp_path / "x"), "--sources", str(sources), "--check", str(tmp_path / "corpus" / "MANIFEST.csv")])
    err = capsys.readouterr().err
    assert "sha256 mismatch" in err and "g2.png" in err


def test_only_one_role_can_be_written(tmp_path):
    script = load_script()
    sources = make_sources(tmp_path)
    script.main(["--out", str(tmp_path / "wild"), "--sources", str(sources), "--role", "wild"])
    assert {r["role"] for r in read_rows(tmp_path / "wild" / "MANIFEST.csv")} == {"wild"}


def test_one_role_is_the_same_selection_as_the_whole_corpus_and_never_copies_the_other_role(tmp_path):
    script = load_script()
    sources = make_sources(tmp_path)
    copied = tmp_path / "reposted"
    copied.mkdir()
    (copied / "same-photo.png").write_bytes((tmp_path / "photos" / "p2.png").read_bytes())
    picture(copied / "own.png", 300)
    config = json.loads(sources.read_text())
    config["sources"].append({"name": "reposted", "role": "wild", "label": "real", "kind": "photo", "generator": "camera",
                              "folder": str(copied), "include": [f"{copied}/*"], "licence": "CC0"})
    sources.write_text(json.dumps(config))
    script.main(["--out", str(tmp_path / "all"), "--sources", str(sources)])
    script.main(["--out", str(tmp_path / "wild"), "--sources", str(sources), "--role", "wild"])
    wild = read_rows(tmp_path / "wild" / "MANIFEST.csv")
    assert wild == [r for r in read_rows(tmp_path / "all" / "MANIFEST.csv") if r["role"] == "wild"]
    assert [r["source_path"].rsplit("/", 1)[-1] for r in wild if r["source"] == "reposted"] == ["own.png"], \
        "a training photo reposted in an evaluation source is not evaluated on"


def test_files_of_another_manifest_are_not_selected_again(tmp_path):
    script = load_script()
    sources = make_sources(tmp_path)
    script.main(["--out", str(tmp_path / "first"), "--sources", str(sources)])
    script.main(["--out", str(tmp_path / "second"), "--sources", str(sources),
                 "--exclude-manifest", str(tmp_path / "first" / "MANIFEST.csv")])
    assert read_rows(tmp_path / "second" / "MANIFEST.csv") == []


def test_a_missing_mirror_is_a_clear_error(tmp_path, capsys):
    script = load_script()
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"sources": [{"name": "x", "label": "ai", "family": "f", "generator": "g",
                                             "repo": "nobody/nothing", "commit": "abc", "include": ["*"]}]}))
    assert script.main(["--out", str(tmp_path / "o"), "--sources", str(path), "--mirrors", str(tmp_path)]) == 2
    assert "No git mirror of nobody/nothing" in capsys.readouterr().err


def test_a_mirror_fetched_with_a_work_tree_is_read_like_a_bare_one(tmp_path):
    script = load_script()
    work_tree = tmp_path / "mirrors" / "someone+faces" / "repo"
    (work_tree / "photos").mkdir(parents=True)
    picture(work_tree / "photos" / "a.png", 1)
    picture(work_tree / "photos" / "b.png", 2)
    git = ["git", "-C", str(work_tree), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "photos"], check=True)
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"sources": [{"name": "faces", "role": "train", "label": "real", "kind": "photo",
                                             "generator": "camera", "repo": "someone/faces", "commit": commit,
                                             "include": ["photos/*.png"], "licence": "CC0"}]}))
    assert script.main(["--out", str(tmp_path / "o"), "--sources", str(path), "--mirrors", str(tmp_path / "mirrors")]) == 0
    rows = read_rows(tmp_path / "o" / "MANIFEST.csv")
    assert sorted(r["source_path"] for r in rows) == ["photos/a.png", "photos/b.png"]
    assert {r["version"] for r in rows} == {commit}


RESERVED_REPOSITORIES = {
    "AmpiLaGrand/fluffybatatacrash", "AnurakRana/Comfy_UI", "ByronOMC/ai-vs-real-images-arcade", "DDstar1/Red-Signal",
    "EliSchwartz/imagenet-sample-images", "Evolink-AI/awesome-seedream-5-pro-guide-and-prompt", "Flex4Meghadri/SD-3.5",
    "Inf-imagine/Sentry", "ML72/AI-Image-Classifier-Playground", "PicoTrex/Awesome-Nano-Banana-images",
    "Pixmind-io/awesome-midjourney-v7-example-prompts", "SqueezeSoftware/test_files", "USTB-SkyCode/2024Task",
    "abuzar332/Flux1AIImageGeneration", "declan-wright/Image-Dataset", "ianare/exif-samples",
    "jamez-bondos/awesome-gpt4o-images", "necenzurat/ai-image-filter", "openai/dalle-2-preview",
    "zhouwei713/awesome-seedance-4.0", "JimmyLv/awesome-nano-banana", "ruifengzhaomail/Awesome-Nano-Banana-Guides-and-Images",
    "imaginevid-ai/Awesome-seedream-5-pro-prompts-and-skills", "ZizheRuan/awesome-nano-banana-pro-images",
    "drewnoakes/metadata-extractor-images",
}
RESERVED_PACKAGES = {"openclipart-png", "hedgewars-data", "tuxpaint-stamps-default", "tuxpaint-data"}


def test_no_source_list_of_the_project_names_a_reserved_source():
    script = load_script()
    lists = sorted(Path(script.__file__).resolve().parent.glob("corpus/**/sources.json"))
    assert len(lists) >= 3  # the corpus, its extension, and the GAN / GPT-image / portrait candidates
    for path in lists:
        for source in script.load_sources(path):
            assert (source.get("repo") or "").lower() not in {r.lower() for r in RESERVED_REPOSITORIES}, path
            assert not ({source.get("package"), *source.get("also_packages", [])} & RESERVED_PACKAGES), path
