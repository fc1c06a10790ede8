"""scripts/experiments/npr_extension_same_folds.py: the bookkeeping that keeps its comparison out of source.

Its rows compare new NPR members with the shipped ones on the same images, so every base image must
be scored by a member that never trained on its source, every member must train on the new sources,
and a source kept out of training (hardfaces) must stay out of every member's training.
"""

from __future__ import annotations

import pytest

from tests.scripts import load_script


@pytest.fixture(scope="module")
def experiment():
    return load_script("experiments/npr_extension_same_folds.py")


BASE = ["photos"] * 3 + ["manga"] * 2 + ["gemini"] * 3 + ["hardfaces"] * 2
BASE_FOLDS = [0] * 3 + [1] * 2 + [2] * 3 + [1] * 2


def test_base_images_keep_their_folds_and_new_sources_get_their_own(experiment):
    extended = ["gan_ffhq"] * 2 + BASE + ["portraits"]
    folds, new = experiment.extended_folds(BASE, BASE_FOLDS, extended)
    assert new == ["gan_ffhq", "portraits"]
    assert list(folds[2:-1]) == BASE_FOLDS
    assert list(folds[:2]) == [experiment.NEW_SOURCE] * 2 and folds[-1] == experiment.NEW_SOURCE


def test_each_member_trains_on_the_new_sources_never_on_its_own_fold_nor_on_excluded_sources(experiment):
    extended = BASE + ["gan_ffhq"] * 2
    folds, _ = experiment.extended_folds(BASE, BASE_FOLDS, extended)
    trainable = [s != "hardfaces" for s in extended]
    for fold in (0, 1, 2):
        rows = experiment.training_rows(folds, fold, trainable)
        trained_on = {extended[r] for r in rows}
        assert "gan_ffhq" in trained_on
        assert "hardfaces" not in trained_on
        assert not trained_on & {s for s, f in zip(BASE, BASE_FOLDS) if f == fold}


def test_a_source_split_across_folds_is_refused(experiment):
    with pytest.raises(ValueError, match="split across folds"):
        experiment.extended_folds(["photos", "photos"], [0, 1], ["photos"])


def test_a_missing_logits_file_is_a_clear_command_line_error(experiment, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        experiment.main(["--base", "a", "--extended", "a", "b", "--checkpoint", "c.pt", "--cache-dir", str(tmp_path),
                         "--load-logits", str(tmp_path / "none.npz")])
    assert stopped.value.code == 2
    assert "--load-logits: no file" in capsys.readouterr().err
