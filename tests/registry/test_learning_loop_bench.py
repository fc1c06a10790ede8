"""The learning-loop benchmark's bookkeeping: which images become labels, which are scored, each once."""

from __future__ import annotations

import csv
import shutil

import pytest

import numpy as np

from bench.learning_loop import base_view, figures, file_sha256, labels_enter, main, plan_split
from reviews.models import ReviewCase

from ..images import image_bytes


def _folder(root, name, count, seed, fmt="PNG"):
    folder = root / name
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{name.replace('/', '_')}{i}.{fmt.lower()}").write_bytes(image_bytes(fmt, size=(48, 48), seed=seed + i))
    return folder


@pytest.fixture
def folders(tmp_path):
    family = _folder(tmp_path, "family/ai", 30, 0)
    real = _folder(tmp_path, "real", 20, 100, "JPEG")
    photos = _folder(tmp_path, "photos", 6, 200, "JPEG")
    for path in sorted(real.iterdir())[:5]:  # the photos folder also holds real images that may become labels
        shutil.copy(path, photos / f"copy-{path.name}")
    shutil.copy(sorted(family.iterdir())[0], family / "same-bytes-again.png")  # a duplicate in the family
    art = _folder(tmp_path, "art", 5, 300)
    other = _folder(tmp_path, "other/ai", 4, 400)
    return {"family": [family], "real": [real], "photos": [photos], "art": [art], "other_ai": [other]}


def test_labels_are_nested_prefixes_and_never_scored(folders):
    plan = plan_split(**folders, counts=[10, 20, 400], max_scored=50, min_scored_family=5, seed=3)
    assert plan.counts == [10, 20] and plan.skipped == [400]  # 200 family labels would leave nothing unseen
    ten, twenty = plan.labels_for(10), plan.labels_for(20)
    assert [x for x in ten if x[0] == "ai"] == [x for x in twenty if x[0] == "ai"][:5]  # the first 10 are among the first 20
    assert sum(1 for x in twenty if x[0] == "ai") == 10 and sum(1 for x in twenty if x[0] == "human") == 10
    labels = plan.label_sha256()
    assert len(labels) == 20  # no image is two labels
    scored = [d for items in plan.scored.values() for _, d in items]
    assert len(scored) == len(set(scored))  # nothing counted twice, across the sets
    assert not labels & set(scored)  # no label image (by its bytes) is scored
    assert len(plan.scored["family"]) == 30 - 10  # 31 files, one duplicate, 10 labels
    # The photos folder held copies of real images: those that became labels are not scored.
    label_real = {d for _, d in plan.label_real}
    copies = {file_sha256(p) for p in folders["photos"][0].glob("copy-*")}
    assert len(plan.scored["photos"]) == 6 + len(copies - label_real)
    assert len(plan.scored["art"]) == 5 and len(plan.scored["other_ai"]) == 4


def test_scored_sets_are_capped(folders):
    plan = plan_split(**folders, counts=[4], max_scored=3, min_scored_family=1)
    assert {name: len(items) for name, items in plan.scored.items()} == {"family": 3, "photos": 3, "art": 3, "other_ai": 3}


def test_figures_read_at_another_threshold_count_the_same_scores_again():
    scores = {"likely_ai": 0.9, "p": {"family": np.array([0.95, 0.91, 0.5, 0.2]), "photos": np.array([0.1, 0.2]),
                                       "art": np.array([0.92, 0.3, 0.1, 0.1])}}
    at_own = figures(scores)
    at_higher = figures(scores, 0.93)
    assert at_own["likely_ai"] == 0.9 and at_higher["likely_ai"] == 0.93
    assert at_own["family_recall"] == 0.5 and at_higher["family_recall"] == 0.25
    assert at_own["art_fpr"] == 0.25 and at_higher["art_fpr"] == 0.0
    assert at_own["family_auc"] == at_higher["family_auc"]  # the AUC does not depend on the threshold


def test_the_base_view_leaves_out_every_source_that_holds_a_tested_folder(tmp_path, folders):
    base = tmp_path / "base"
    for source in ("keep_a", "keep_b"):
        _folder(base, f"{source}/real", 2, 500)
    tested = base / "tested_source" / "ai"
    _folder(base, "tested_source/ai", 2, 600)
    with open(base / "MANIFEST.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for path in sorted(base.rglob("*.png")):
            writer.writerow([path.relative_to(base).as_posix(), "ai" if "/ai/" in path.as_posix() else "real"])
    views, dropped = base_view([base], [tested, *folders["family"]], tmp_path / "view")
    assert dropped == ["tested_source"]
    assert sorted(p.name for p in views[0].iterdir()) == ["MANIFEST.csv", "keep_a", "keep_b"]
    with open(views[0] / "MANIFEST.csv", newline="") as handle:
        assert {r["path"].split("/")[0] for r in csv.DictReader(handle)} == {"keep_a", "keep_b"}


@pytest.mark.django_db(transaction=True)
def test_labels_enter_as_reviewer_decisions_once_each(settings, folders, submitter, reviewer):
    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0
    settings.AIORNOT_HEATMAPS = False
    plan = plan_split(**folders, counts=[4, 8], max_scored=50, min_scored_family=5)
    first = labels_enter(labels=plan.labels_for(4), submitter=submitter, reviewer=reviewer)
    assert set(first) == {d for _, _, d in plan.labels_for(4)}
    cases = labels_enter(labels=plan.labels_for(8), submitter=submitter, reviewer=reviewer)
    assert set(cases) == {d for _, _, d in plan.labels_for(8)} and len(cases) == 8
    decided = dict(ReviewCase.objects.filter(status="decided").values_list("asset__sha256", "label"))
    assert decided == {d: label for label, _, d in plan.labels_for(8)}  # each decided truthfully, once
    assert not set(decided) & {d for items in plan.scored.values() for _, d in items}


def test_with_real_art_every_other_real_label_is_an_artwork_and_never_scored(folders, tmp_path):
    contest_art = _folder(tmp_path, "contest_art", 6, 700)
    shutil.copy(sorted(folders["art"][0].iterdir())[0], contest_art / "also-in-the-scored-art.png")
    plan = plan_split(**folders, real_art=[contest_art], counts=[8, 16], max_scored=50, min_scored_family=5, seed=1)
    art_digests = {file_sha256(p) for p in contest_art.iterdir()}
    real = [d for label, _, d in plan.labels_for(16) if label == "human"]
    assert [d in art_digests for d in real] == [False, True] * 4  # photo, artwork, photo, artwork...
    assert plan.label_art == set(real) & art_digests and len(plan.label_art) == 4
    assert not plan.label_sha256() & {d for items in plan.scored.values() for _, d in items}
    assert len(plan.scored["art"]) == 5 - len(plan.label_art & {file_sha256(contest_art / "also-in-the-scored-art.png")})
    # The family labels and the other scored sets are drawn as they are without --real-art.
    plain = plan_split(**folders, counts=[8, 16], max_scored=50, min_scored_family=5, seed=1)
    assert plain.label_family == plan.label_family and plain.scored["other_ai"] == plan.scored["other_ai"]
    assert [d for _, d in plain.scored["art"] if d not in plan.label_art] == [d for _, d in plan.scored["art"]]


@pytest.mark.django_db(transaction=True)
def test_art_labels_are_entered_as_art_contest_entries_and_exported_as_art(settings, folders, submitter, reviewer,
                                                                            site_admin, tmp_path):
    from django.core.management import call_command

    from detector.models import Collection

    settings.AIORNOT_REVIEW_SAMPLE_LIKELY_HUMAN = 1.0
    settings.AIORNOT_HEATMAPS = False
    contest_art = _folder(tmp_path, "contest_art", 6, 700)
    plan = plan_split(**folders, real_art=[contest_art], counts=[8], max_scored=50, min_scored_family=5)
    contest = Collection.objects.create(name="Salon", policy="art_contest", created_by=site_admin)
    cases = labels_enter(labels=plan.labels_for(8), submitter=submitter, reviewer=reviewer, contest=contest,
                         contest_sha256=plan.label_art)
    assert len(cases) == 8
    call_command("export_labels", str(tmp_path / "export"))
    with open(tmp_path / "export" / "MANIFEST.csv", newline="") as handle:
        kinds = {r["sha256"]: (r["label"], r["kind"], r["collection"]) for r in csv.DictReader(handle)}
    assert {d for d, (_, kind, _) in kinds.items() if kind == "art"} == plan.label_art
    assert all(kinds[d] == ("real", "art", "Salon") for d in plan.label_art)


def test_a_negative_start_npr_epochs_is_a_clear_cli_error(folders, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--family", str(folders["family"][0]), "--real", str(folders["real"][0]), "--start-npr-epochs", "-2"])
    assert exit_info.value.code == 2
    assert "--start-npr-epochs takes 0 (the recipe's own) or a positive number of epochs" in capsys.readouterr().err


def test_a_scores_json_in_a_missing_folder_is_a_clear_cli_error_before_any_work(folders, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--family", str(folders["family"][0]), "--real", str(folders["real"][0]),
              "--scores-json", str(tmp_path / "no-such-folder" / "scores.json")])
    assert exit_info.value.code == 2
    assert "--scores-json" in capsys.readouterr().err
