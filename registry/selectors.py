"""Reads of the registry: the active version, the reviewer labels, recent versions and jobs, and
AI images the model missed, grouped into likely new generators.

A reviewer who labels an image AI that the model scored below likely_ai has found something the
model does not know. One such image is noise; several that look alike to the classifier's own
embedding are a generator it has not learnt, and a retrain with those labels is how it learns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.conf import settings

from detector.models import Verdict
from reviews.models import ReviewCase

from .models import Job, LabelSplit, ModelVersion


def active_model_version() -> ModelVersion | None:
    """The version in service, or None before the registry is first used."""
    return ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).first()


def model_versions_recent(limit: int = 100) -> list[ModelVersion]:
    """The newest registered versions, with their parent and promoter."""
    return list(ModelVersion.objects.select_related("parent", "promoted_by").all()[:limit])


def jobs_recent(limit: int = 10):
    """The newest background jobs, with who started them."""
    return Job.objects.select_related("created_by")[:limit]


def labelled_cases():
    """Decided cases whose final label is ai or human (unsure is not a label)."""
    return ReviewCase.objects.filter(status=ReviewCase.Status.DECIDED, label__in=["ai", "human"])


def labels_since_last_candidate() -> tuple[int, object]:
    """How many training-side reviewer labels arrived since the last candidate, and since when.

    "Since" is the later of the newest registered version and the newest scheduled retrain job
    (one that failed is not retried on every tick: it waits for another batch of labels). Labels
    already frozen into the hold-out are never trained on, so they do not count.
    """
    marks = [
        ModelVersion.objects.order_by("-created_at").values_list("created_at", flat=True).first(),
        Job.objects.filter(kind=Job.Kind.RETRAIN, trigger=Job.Trigger.SCHEDULED)
        .order_by("-created_at").values_list("created_at", flat=True).first(),
    ]
    since = max((m for m in marks if m is not None), default=None)
    labels = labelled_cases().exclude(split__split=LabelSplit.Split.HOLDOUT)
    if since is not None:
        labels = labels.filter(labelled_at__gt=since)
    return labels.count(), since


def greedy_cosine_clusters(vectors, *, threshold: float) -> list[list[int]]:
    """Group vectors whose cosine similarity to a group's mean direction is at least `threshold`.

    One pass, in the given order: each vector joins the most similar existing group if that group's
    (normalised) mean is at least `threshold` similar, else starts a new group. Returns the groups
    as lists of indices, largest first (ties: the group started first).
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.size == 0:
        return []
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    groups: list[list[int]] = []
    sums: list[np.ndarray] = []
    for i, vector in enumerate(unit):
        if sums:
            means = np.array([s / max(np.linalg.norm(s), 1e-12) for s in sums])
            similarity = means @ vector
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                groups[best].append(i)
                sums[best] = sums[best] + vector
                continue
        groups.append([i])
        sums.append(vector.copy())
    order = sorted(range(len(groups)), key=lambda g: (-len(groups[g]), g))
    return [groups[g] for g in order]


@dataclass
class MissedCluster:
    """Reviewer-labelled AI images the model scored low that look alike to it."""

    cases: list[ReviewCase] = field(default_factory=list)
    since: datetime | None = None  # the first of them was labelled then

    @property
    def size(self) -> int:
        return len(self.cases)


def missed_ai_cases(*, since: datetime | None = None):
    """Cases reviewers labelled AI whose score (when routed) was below likely_ai, oldest label first.

    By default only those labelled since the active model went into service: what it has missed.
    """
    if since is None:
        active = active_model_version()
        since = active.promoted_at if active is not None else None
    cases = (
        labelled_cases().filter(label="ai").exclude(first_submission__verdict=Verdict.LIKELY_AI)
        .exclude(first_submission__verdict="")
        .select_related("asset__fingerprint", "first_submission")
        .order_by("labelled_at", "id")
    )
    if since is not None:
        cases = cases.filter(labelled_at__gte=since)
    return cases


def missed_ai_clusters(
    *, since: datetime | None = None, threshold: float | None = None, min_size: int | None = None
) -> list[MissedCluster]:
    """Missed AI images grouped by the classifier's embedding (AIORNOT_MISSED_AI_SIMILARITY),
    groups of at least AIORNOT_MISSED_AI_MIN_CLUSTER, largest first. Images without a stored
    embedding (of the embedding version most of them have) are left out."""
    threshold = settings.AIORNOT_MISSED_AI_SIMILARITY if threshold is None else threshold
    min_size = settings.AIORNOT_MISSED_AI_MIN_CLUSTER if min_size is None else min_size
    with_vectors = []
    for case in missed_ai_cases(since=since):
        fingerprint = getattr(case.asset, "fingerprint", None)
        if fingerprint is not None and fingerprint.embedding:
            with_vectors.append((case, fingerprint.embedding_model, bytes(fingerprint.embedding)))
    if not with_vectors:
        return []
    models = [m for _, m, _ in with_vectors]
    version = max(set(models), key=models.count)  # one embedding space: never compare across models
    with_vectors = [(c, e) for c, m, e in with_vectors if m == version]
    vectors = np.array([np.frombuffer(e, dtype=np.float16).astype(np.float32) for _, e in with_vectors])
    clusters = []
    for group in greedy_cosine_clusters(vectors, threshold=threshold):
        if len(group) < max(1, min_size):
            continue
        cases = [with_vectors[i][0] for i in group]
        clusters.append(MissedCluster(cases=cases, since=min(c.labelled_at for c in cases)))
    return clusters
