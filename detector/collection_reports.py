"""Collection reports: each entry as this viewer may see it, the counts, and the JSON and CSV forms.

Every result shown here goes through ``verdict_withheld``, so an art-contest entrant never reads
"likely AI" (nor the evidence behind it) before a reviewer has decided.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.utils.translation import gettext as _

from reviews.models import Decision, ReviewCase
from reviews.selectors import ReviewOutcome

from .models import Collection, Submission, Verdict
from .presentation import evidence_rows, probability_lines, verdict_wording
from .selectors import collection_entries_visible_to, submission_outcome_for, verdict_withheld


@dataclass(frozen=True)
class ReportEntry:
    """One entry of a collection as this viewer may see it."""

    submission: Submission
    withheld: bool
    outcome: ReviewOutcome
    evidence: tuple[str, ...]

    @property
    def shows_score(self) -> bool:
        return self.submission.status == Submission.Status.SCORED and not self.withheld

    @property
    def lines(self) -> dict[str, str]:
        return (probability_lines(self.submission.p_ai) or {}) if self.shows_score else {}

    @property
    def withheld_state(self) -> str:
        """Why the verdict is hidden: "under_review", "not_shown" (reviewed, not found AI), or ""."""
        if not self.withheld:
            return ""
        return "not_shown" if self.outcome.state == "decided" else "under_review"

    @property
    def verdict_display(self) -> str:
        s = self.submission
        if self.withheld:
            return withheld_label(self.withheld_state)
        if s.status != Submission.Status.SCORED:
            return s.get_status_display()
        return verdict_wording(s.verdict, s.fusion)["label"]

    @property
    def outcome_display(self) -> str:
        return outcome_text(self.outcome)

    @property
    def filename(self) -> str:
        return self.submission.original_filename or self.submission.source_url


def withheld_label(state: str) -> str:
    return _("Not shown") if state == "not_shown" else _("Under review")


def outcome_text(outcome: ReviewOutcome) -> str:
    if outcome.state == "decided":
        when = outcome.decided_at.strftime("%Y-%m-%d") if outcome.decided_at else ""
        return _("Decided by a reviewer: %(label)s (%(date)s)") % {"label": outcome.label_display, "date": when}
    return {
        "escalated": _("Escalated to an admin: the reviewers disagreed"),
        "waiting": _("Waiting for a reviewer"),
        "in_review": _("A reviewer is looking at it"),
        "not_routed": _("Not selected for human review"),
        "not_scored": _("Not scored yet"),
    }.get(outcome.state, outcome.state)


def evidence_line(row: dict) -> str:
    """One line per finding: 'Provenance metadata, points to AI (moderate, unsigned): <sentence>'."""
    qualifiers = [str(row["strength_text"])] if row.get("strength_text") else []
    if row.get("verified"):
        qualifiers.append(_("verified"))
    elif row.get("layer") != "classifier" and row.get("counts"):
        qualifiers.append(_("unsigned"))
    head = str(row["layer_name"])
    if row.get("direction_text"):
        head += f", {row['direction_text']}"
    if qualifiers:
        head += f" ({', '.join(qualifiers)})"
    line = f"{head}: {row['line']}"
    if row.get("stability"):
        line += " " + _("Stability: %(label)s — %(text)s") % row["stability"]
    return line


def report_entry(submission: Submission, user) -> ReportEntry:
    withheld = submission.status == Submission.Status.SCORED and verdict_withheld(submission, user)
    evidence: tuple[str, ...] = ()
    if submission.status == Submission.Status.SCORED and not withheld:
        evidence = tuple(evidence_line(row) for row in evidence_rows(submission.fusion))
    outcome = submission_outcome_for(submission, user)
    return ReportEntry(submission=submission, withheld=withheld, outcome=outcome, evidence=evidence)


def collection_report_entries(*, user, collection: Collection) -> list[ReportEntry]:
    return [report_entry(s, user) for s in collection_entries_visible_to(user=user, collection=collection)]


@dataclass(frozen=True)
class CollectionStatus:
    total: int
    by_status: dict[str, int]
    by_verdict: dict[str, int]
    by_outcome: dict[str, int]

    @property
    def finished(self) -> int:
        """Scored or failed: scoring has nothing left to do for these."""
        return self.by_status["scored"] + self.by_status["failed"]

    @property
    def decided(self) -> int:
        return sum(n for key, n in self.by_outcome.items() if key.startswith("decided"))

    @property
    def routed(self) -> int:
        return self.decided + self.by_outcome["waiting"] + self.by_outcome["in_review"] + self.by_outcome["escalated"]

    @property
    def status_rows(self) -> list[tuple[str, int]]:
        return [(label, self.by_status[value]) for value, label in Submission.Status.choices]

    @property
    def verdict_rows(self) -> list[tuple[str, int]]:
        rows = [(label, self.by_verdict[value]) for value, label in Verdict.choices]
        rows += [(withheld_label(state), self.by_verdict[state]) for state in ("under_review", "not_shown")
                 if self.by_verdict[state]]
        return rows

    @property
    def outcome_rows(self) -> list[tuple[str, int]]:
        rows = [
            (_("Not scored yet"), self.by_outcome["not_scored"]),
            (_("Not selected for human review"), self.by_outcome["not_routed"]),
            (_("Waiting for a reviewer"), self.by_outcome["waiting"]),
            (_("A reviewer is looking at it"), self.by_outcome["in_review"]),
        ]
        if self.by_outcome["escalated"]:  # only admins see this state
            rows.append((_("Escalated to an admin: the reviewers disagreed"), self.by_outcome["escalated"]))
        rows += [
            (_("Decided: %(label)s") % {"label": label}, self.by_outcome.get(f"decided_{value}", 0))
            for value, label in Decision.choices
        ]
        return rows


def collection_status(entries: list[ReportEntry]) -> CollectionStatus:
    """Counts by scoring status, by verdict as this viewer may see it (withheld ones count as
    under review, or as not shown once reviewed, never as likely AI), and by review outcome."""
    by_status = {value: 0 for value in Submission.Status.values}
    by_verdict = {value: 0 for value in Verdict.values} | {"under_review": 0, "not_shown": 0}
    by_outcome = {"not_scored": 0, "not_routed": 0, "waiting": 0, "in_review": 0, "escalated": 0}
    for entry in entries:
        s = entry.submission
        by_status[s.status] = by_status.get(s.status, 0) + 1
        if entry.withheld:
            by_verdict[entry.withheld_state] += 1
        elif s.status == Submission.Status.SCORED and s.verdict:
            by_verdict[s.verdict] = by_verdict.get(s.verdict, 0) + 1
        key = f"decided_{entry.outcome.label}" if entry.outcome.state == "decided" else entry.outcome.state
        by_outcome[key] = by_outcome.get(key, 0) + 1
    return CollectionStatus(total=len(entries), by_status=by_status, by_verdict=by_verdict, by_outcome=by_outcome)


# --- Report formats -----------------------------------------------------------------------------

REPORT_COLUMNS = [
    "id", "filename", "sha256", "submitted_by", "submitted_at", "status", "model_version", "p_ai", "ai_generated",
    "verdict", "evidence", "review_state", "review_label", "reviewed_at", "review_decisions", "review_reasons",
    "review_notes", "link",
]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A cell a spreadsheet will not run: text starting with = + - @ (or tab/CR) gets a quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def final_review_decisions(entry: ReportEntry, *, with_reviewers: bool) -> list[dict]:
    """The decisions of the final round of a decided case (none before: review stays blind).

    Reviewer names only for viewers who see every entry (admins and reviewers).
    """
    if entry.outcome.state != "decided" or entry.outcome.case_id is None:
        return []
    case = ReviewCase.objects.filter(pk=entry.outcome.case_id).first()
    if case is None:
        return []
    decisions = case.decisions.filter(round=case.round).select_related("reviewer").order_by("created_at", "id")
    return [
        {
            "decision": d.decision,
            "stage": d.stage,
            "reviewer": d.reviewer.username if with_reviewers else None,
            "reason_codes": list(d.reason_codes or []),
            "reasons": d.reason_code_labels(),
            "note": d.note,
            "decided_at": d.created_at.isoformat(),
        }
        for d in decisions
    ]


def report_record(entry: ReportEntry, *, link: str, with_reviewers: bool = False) -> dict:
    """The JSON form of one entry; score fields are null while the result is withheld."""
    s, lines = entry.submission, entry.lines
    return {
        "id": s.pk,
        "filename": entry.filename,
        "sha256": s.asset.sha256,
        "model_version": s.model_version if entry.shows_score else None,
        "submitted_by": s.submitted_by.username,
        "submitted_at": s.created_at.isoformat(),
        "status": s.status,
        "failure_reason": s.failure_reason if s.status == Submission.Status.FAILED else "",
        "result_withheld": entry.withheld,
        "p_ai": s.p_ai if entry.shows_score else None,
        "ai_generated": lines.get("ai_generated"),
        "human_made": lines.get("human_made"),
        "verdict": s.verdict if entry.shows_score else None,
        "verdict_display": str(entry.verdict_display),
        "evidence": list(entry.evidence),
        "review": {
            "state": entry.outcome.state,
            "label": entry.outcome.label,
            "decided_at": entry.outcome.decided_at.isoformat() if entry.outcome.decided_at else None,
            "decisions": final_review_decisions(entry, with_reviewers=with_reviewers),
        },
        "link": link,
    }


def report_csv(records: list[dict]) -> str:
    """The CSV form of report records; every cell is made safe for spreadsheets."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for r in records:
        row = {
            **r,
            "p_ai": "" if r["p_ai"] is None else f"{r['p_ai']:.4f}",
            "ai_generated": r["ai_generated"] or "",
            "verdict": r["verdict_display"],
            "evidence": "\n".join(r["evidence"]),
            "review_state": r["review"]["state"],
            "review_label": r["review"]["label"],
            "reviewed_at": r["review"]["decided_at"] or "",
            "model_version": r["model_version"] or "",
            "review_decisions": "\n".join(
                f"{d['decision']} ({d['stage']}{', ' + d['reviewer'] if d['reviewer'] else ''})"
                for d in r["review"]["decisions"]
            ),
            "review_reasons": "\n".join("; ".join(d["reasons"]) for d in r["review"]["decisions"] if d["reasons"]),
            "review_notes": "\n".join(d["note"] for d in r["review"]["decisions"] if d["note"]),
        }
        writer.writerow([csv_cell(row[column]) for column in REPORT_COLUMNS])
    return out.getvalue()
