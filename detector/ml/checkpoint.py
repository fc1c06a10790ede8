"""The detector checkpoint file: a torch.save'd plain dict, read back with weights_only=True.

Layout (all values are plain Python types or tensors, so weights_only loading works):

    {
        "format": "aiornot.detector/1",
        "arch": str,                   # timm architecture name, or one of architectures.ARCHITECTURES
        "state_dict": {name: Tensor},  # floating weights in fp16 unless saved with half=False
        "preprocessing": dict,         # Preprocessing.to_dict()
        "model_version": str,
        "temperature": float,
        "thresholds": {"likely_ai": float, "likely_human": float},
        "metrics": dict,
        "data_summary": dict,
        "training_args": dict,
        "created_at": str,             # ISO 8601
        "software": {"torch": str, "timm": str},
    }
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePath

import numpy as np
import torch

from .preprocessing import Preprocessing

CHECKPOINT_FORMAT = "aiornot.detector/1"
_FORMAT_FAMILY = "aiornot.detector/"
_ZIP_MAGIC = b"PK\x03\x04"
# BatchNorm statistics are few and can be tiny or large; fp16 would only save bytes there. The NPR
# detector's logit_mix multiplies whole logits: fp16 would move scores against the thresholds.
_KEEP_FP32_SUFFIXES = ("running_mean", "running_var", "logit_mix")
_FP16_MAX = 65504.0


class CheckpointError(Exception):
    """A checkpoint file is missing, unreadable, of another format, or does not fit its model."""


@dataclass
class DetectorCheckpoint:
    """Everything needed to rebuild and run one trained detector."""

    arch: str
    state_dict: dict
    preprocessing: dict
    model_version: str
    temperature: float = 1.0
    thresholds: dict = field(default_factory=lambda: {"likely_ai": 0.8, "likely_human": 0.2})
    metrics: dict = field(default_factory=dict)
    data_summary: dict = field(default_factory=dict)
    training_args: dict = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now().astimezone().isoformat(timespec="seconds"))


def stored_state_dict(state_dict: dict, *, half: bool = True) -> dict:
    """The state dict as it is written to disk: CPU tensors, floating weights in fp16 when `half`."""
    out = {}
    for name, tensor in state_dict.items():
        tensor = tensor.detach().to("cpu")
        if (
            half
            and tensor.is_floating_point()
            and tensor.dtype != torch.float16
            and not name.endswith(_KEEP_FP32_SUFFIXES)
            and (tensor.numel() == 0 or float(tensor.abs().max()) <= _FP16_MAX)
        ):
            tensor = tensor.to(torch.float16)
        out[name] = tensor.clone().contiguous()
    return out


def state_dict_digest(state_dict: dict) -> str:
    """sha256 over names and raw tensor bytes; identifies the weights independently of metadata."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous().reshape(-1)
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()



def _plain(value):
    """Metadata as types torch.load(weights_only=True) accepts (no numpy scalars, paths, tuples)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_plain(v) for v in items]
    if isinstance(value, (bool, type(None))):
        return value
    if isinstance(value, str):
        return str(value)  # str subclasses such as torch's TorchVersion are not weights_only-safe
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    raise TypeError(f"Cannot store a {type(value).__name__} in checkpoint metadata.")


def checkpoint_to_dict(checkpoint: DetectorCheckpoint, *, half: bool = True) -> dict:
    """The plain dict that save_checkpoint writes."""
    import timm  # seconds to import: only checkpoint writes and checks load it

    return {
        "format": CHECKPOINT_FORMAT,
        "arch": str(checkpoint.arch),
        "state_dict": stored_state_dict(checkpoint.state_dict, half=half),
        "preprocessing": _plain(checkpoint.preprocessing),
        "model_version": str(checkpoint.model_version),
        "temperature": float(checkpoint.temperature),
        "thresholds": _plain(checkpoint.thresholds),
        "metrics": _plain(checkpoint.metrics),
        "data_summary": _plain(checkpoint.data_summary),
        "training_args": _plain(checkpoint.training_args),
        "created_at": str(checkpoint.created_at),
        "software": {"torch": str(torch.__version__), "timm": str(timm.__version__)},
    }


def save_checkpoint(checkpoint: DetectorCheckpoint, path, *, half: bool = True) -> None:
    """Write the checkpoint atomically (temporary file in the same folder, then os.replace)."""
    path = Path(path)
    payload = checkpoint_to_dict(checkpoint, half=half)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def read_checkpoint(path) -> DetectorCheckpoint:
    """Load and validate a checkpoint file; raises CheckpointError with a readable message."""
    return checkpoint_from_bytes(_read_bytes(path), path)


def _read_bytes(path) -> bytes:
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise CheckpointError(f"Detector checkpoint {path} does not exist.") from None
    except IsADirectoryError:
        raise CheckpointError(f"Detector checkpoint {path} is a directory, not a checkpoint file.") from None
    except OSError as exc:
        raise CheckpointError(f"Detector checkpoint {path} cannot be read: {exc.strerror or exc}.") from exc


def checkpoint_from_bytes(data: bytes, path="<bytes>") -> DetectorCheckpoint:
    """Validate and decode checkpoint file contents (what read_checkpoint does after reading the file)."""
    if not data:
        raise CheckpointError(f"Detector checkpoint {path} is empty.")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (UnpicklingError, RuntimeError, EOFError...)
        if data.startswith(_ZIP_MAGIC) and "Weights only load failed" in str(exc):
            raise CheckpointError(
                f"{path} is not a detector checkpoint: it holds Python objects other than tensors and plain "
                f"data, which are never unpickled ({_unsupported_global(exc)})."
            ) from exc
        if data.startswith(_ZIP_MAGIC):
            raise CheckpointError(
                f"Detector checkpoint {path} is corrupt or truncated: torch could not load it ({_first_line(exc)})."
            ) from exc
        raise CheckpointError(f"{path} is not a detector checkpoint: it is not a PyTorch file.") from exc
    if not isinstance(payload, dict) or "format" not in payload:
        raise CheckpointError(
            f"{path} is a PyTorch file but not an aiornot detector checkpoint (it has no 'format' field)."
        )
    found = payload["format"]
    if found != CHECKPOINT_FORMAT:
        if isinstance(found, str) and found.startswith(_FORMAT_FAMILY):
            raise CheckpointError(
                f"Detector checkpoint {path} has format version {found!r}, but this code reads only "
                f"{CHECKPOINT_FORMAT!r}; retrain the detector or use a matching aiornot version."
            )
        raise CheckpointError(f"{path} is not an aiornot detector checkpoint (its format is {found!r}).")
    return _validated(payload, path)


def _unsupported_global(exc: BaseException) -> str:
    for line in str(exc).splitlines():
        if "Unsupported global" in line:
            return line.strip().split(" was not", 1)[0][:200]
    return "weights_only load refused"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _validated(payload: dict, path) -> DetectorCheckpoint:
    def corrupt(what: str):
        return CheckpointError(f"Detector checkpoint {path} is corrupt: {what}.")

    expected = {
        "arch": str,
        "state_dict": dict,
        "preprocessing": dict,
        "model_version": str,
        "temperature": (int, float),
        "thresholds": dict,
        "metrics": dict,
        "data_summary": dict,
        "training_args": dict,
        "created_at": str,
    }
    for key, kind in expected.items():
        if key not in payload:
            raise corrupt(f"the field {key!r} is missing")
        if not isinstance(payload[key], kind) or isinstance(payload[key], bool):
            raise corrupt(f"the field {key!r} has type {type(payload[key]).__name__}")
    state_dict = payload["state_dict"]
    if not state_dict or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()):
        raise corrupt("the state dict is empty or holds something other than named tensors")
    temperature = float(payload["temperature"])
    if not math.isfinite(temperature) or temperature <= 0:
        raise corrupt(f"the temperature {temperature!r} is not a positive number")
    thresholds = payload["thresholds"]
    for key in ("likely_ai", "likely_human"):
        value = thresholds.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
            raise corrupt(f"the threshold {key!r} is {value!r}, not a probability")
    if float(thresholds["likely_human"]) > float(thresholds["likely_ai"]):
        raise corrupt("the likely_human threshold is above the likely_ai threshold")
    try:
        Preprocessing.from_dict(payload["preprocessing"])
    except ValueError as exc:
        raise corrupt(f"its preprocessing settings are not usable ({exc})") from exc
    import timm  # seconds to import: only checkpoint writes and checks load it

    from .architectures import is_known_arch

    arch = payload["arch"]
    if not is_known_arch(arch):
        raise CheckpointError(
            f"Detector checkpoint {path} uses the architecture {arch!r}, which the installed timm "
            f"{timm.__version__} does not know (and this code does not define)."
        )
    return DetectorCheckpoint(
        arch=arch,
        state_dict=dict(state_dict),
        preprocessing=dict(payload["preprocessing"]),
        model_version=payload["model_version"],
        temperature=temperature,
        thresholds={k: float(v) if isinstance(v, (int, float)) else v for k, v in thresholds.items()},
        metrics=payload["metrics"],
        data_summary=payload["data_summary"],
        training_args=payload["training_args"],
        created_at=payload["created_at"],
    )
