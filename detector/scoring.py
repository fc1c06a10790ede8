"""The Django side of the model interface: which checkpoint is active, and its thresholds.

torch is imported lazily, only by the process that actually scores (worker or, in
embedded mode, the web process), and the model is loaded once per process.
"""

from __future__ import annotations

from django.conf import settings

from .policy import Thresholds

DEFAULT_LIKELY_AI = 0.8
DEFAULT_LIKELY_HUMAN = 0.2


_threads_set = False


def active_detector():
    """The detector of the active model version (or the configured checkpoint), loaded once per process."""
    global _threads_set
    from .ml.inference import load_detector, set_torch_threads

    if not _threads_set and settings.AIORNOT_TORCH_THREADS > 0:
        set_torch_threads(settings.AIORNOT_TORCH_THREADS)
        _threads_set = True
    return load_detector(active_checkpoint_path(), optimize=settings.AIORNOT_DETECTOR_OPTIMIZE or "none")


def active_checkpoint_path() -> str:
    """The active registry version's verified local file, or the configured built-in checkpoint.

    Raises registry.services.RegistryError when the active version's file is missing or its
    sha256 does not match the registry (scoring then fails with that reason; nothing is lost).
    """
    from registry.services import active_model_version, checkpoint_local_path

    active = active_model_version()
    if active is None:
        return settings.AIORNOT_DETECTOR_CHECKPOINT
    return str(checkpoint_local_path(active))


def producer_version(detector) -> str:
    """Identifies exact weights: the readable version plus the checkpoint's hash."""
    return f"{detector.model_version}@{detector.checkpoint_sha256[:12]}"


def thresholds_for(detector, policy: str = "general") -> Thresholds:
    """The verdict thresholds for a collection policy.

    Settings override the thresholds the checkpoint was calibrated with. The art-contest
    policy raises likely_ai to at least AIORNOT_ART_CONTEST_MIN_LIKELY_AI, because there a
    false accusation falls on a named entrant; the newsroom policy lowers likely_human to at
    most AIORNOT_NEWSROOM_MAX_LIKELY_HUMAN, so fewer photos are cleared without an editor.
    """
    base = _base_thresholds(detector)
    if policy == "art_contest":
        floor = settings.AIORNOT_ART_CONTEST_MIN_LIKELY_AI
        likely_ai = max(base.likely_ai, float(floor)) if floor is not None else base.likely_ai
        return Thresholds(likely_ai=likely_ai, likely_human=min(base.likely_human, likely_ai / 2))
    if policy == "newsroom":
        ceiling = settings.AIORNOT_NEWSROOM_MAX_LIKELY_HUMAN
        likely_human = min(base.likely_human, float(ceiling)) if ceiling is not None else base.likely_human
        return Thresholds(likely_ai=base.likely_ai, likely_human=min(likely_human, base.likely_ai / 2))
    return base


def _base_thresholds(detector) -> Thresholds:
    suggested = getattr(detector, "thresholds", None) or {}
    likely_ai = settings.AIORNOT_LIKELY_AI_THRESHOLD
    likely_human = settings.AIORNOT_LIKELY_HUMAN_THRESHOLD
    return Thresholds(
        likely_ai=likely_ai if likely_ai is not None else float(suggested.get("likely_ai", DEFAULT_LIKELY_AI)),
        likely_human=(
            likely_human if likely_human is not None else float(suggested.get("likely_human", DEFAULT_LIKELY_HUMAN))
        ),
    )
