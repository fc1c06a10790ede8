import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("django")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _needs_django_settings():
    if not settings.configured:
        pytest.skip("Django settings are not configured (run without -p no:django)")


def _data(root):
    for label, colour in (("real", (200, 10, 10)), ("ai", (10, 10, 200))):
        (root / label).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (40, 36), tuple(c + 5 * i for c in colour)).save(root / label / f"{i}.png")
    return root


def test_command_trains_and_reports(tmp_path):
    data = _data(tmp_path / "data")
    out = io.StringIO()
    call_command(
        "train_detector",
        str(data),
        "--output",
        str(tmp_path / "m.pt"),
        "--arch",
        "resnet10t",
        "--no-pretrained",
        "--epochs",
        "1",
        "--input-size",
        "32",
        "--batch-size",
        "4",
        "--no-progress",
        stdout=out,
    )
    assert (tmp_path / "m.pt").is_file()
    assert "Wrote" in out.getvalue() and "ROC AUC" in out.getvalue()


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda d, t: [str(t / "missing"), "--output", str(t / "m.pt")], "does not exist"),
        (lambda d, t: [str(d / "real"), "--output", str(t / "m.pt")], "neither a MANIFEST.csv"),
        (lambda d, t: [str(d), "--output", str(t / "m.pt"), "--arch", "nope_net"], "Unknown architecture"),
        (lambda d, t: [str(d), "--output", str(t / "m.pt"), "--arch", "resnet10t"], "only 'efficientnet_lite0'"),
        (lambda d, t: [str(d), "--output", str(d / "real" / "0.png" / "m.pt")], "Cannot write the checkpoint"),
    ],
    ids=["missing-folder", "no-labels", "unknown-arch", "no-offline-weights", "unwritable-output"],
)
def test_bad_input_is_a_command_error(tmp_path, make_args, message):
    data = _data(tmp_path / "data")
    with pytest.raises(CommandError, match=message):
        call_command("train_detector", *make_args(data, tmp_path), "--no-progress", stdout=io.StringIO())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--whole-view"], "--whole-view applies only to --method probe; --method finetune would ignore it"),
        (["--channel-correlations", "--report", "out"],
         "--channel-correlations, --report apply only to --method probe; --method finetune would ignore them"),
        (["--method", "probe", "--epochs", "3"], "--epochs applies only to --method finetune; --method probe would ignore it"),
        (["--method", "probe", "--device", "cuda", "--lr", "0.1"], "--lr, --device apply only to --method finetune"),
        (["--threads", "0"], "--threads must be at least 1"),
    ],
    ids=["finetune-whole-view", "finetune-two-probe-options", "probe-epochs", "probe-two-finetune-options", "zero-threads"],
)
def test_an_option_the_method_would_ignore_is_a_command_error(tmp_path, args, message):
    data = _data(tmp_path / "data")
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("train_detector", str(data), "--output", str(tmp_path / "m.pt"), *args, stdout=io.StringIO())
    assert not (tmp_path / "m.pt").exists()


def test_only_one_class_is_a_command_error(tmp_path):
    (tmp_path / "d" / "ai").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "d" / "ai" / "x.png")
    with pytest.raises(CommandError, match="has no real images"):
        call_command("train_detector", str(tmp_path / "d"), "--output", str(tmp_path / "m.pt"), stdout=io.StringIO())


def test_command_module_does_not_import_torch():
    code = (
        "import sys, detector.management.commands.train_detector as c; c.Command().create_parser('manage.py', "
        "'train_detector'); print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
