"""Dashboard charts drawn on the server with matplotlib (Agg) as inline, accessible SVG.

Each function takes the plain figure a selector returned and gives back SVG markup ready to
embed (or None when there is nothing to draw). The SVG carries role="img", a <title> and a
<desc>; the page prints the same numbers in a table beside it. Nothing is fetched at run time,
no JavaScript is needed, and ids are prefixed per chart so several charts share one page.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from matplotlib import rc_context
from matplotlib.figure import Figure  # the OO API: no pyplot global state, safe in threads
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, PercentFormatter

from detector.models import Verdict
from reviews.models import Decision

# The site's palette (static/css/site.css): AI brown, human green, accent blue, muted grey.
AI_COLOUR = "#8a3b00"
HUMAN_COLOUR = "#1d6b2f"
ACCENT = "#0b5cad"
MUTED = "#8c959f"
UNSURE_COLOUR = "#b58900"
REVIEWER_COLOURS = ["#0b5cad", "#c4621c", "#1d6b2f", "#7b3fa0", "#b58900", "#2a9d8f", "#a40e26", "#57606a"]
MAX_REVIEWER_SERIES = 7  # the rest are drawn together as "others"

_RC = {
    "svg.fonttype": "none",  # text stays text: selectable, readable by assistive technology, small
    "svg.hashsalt": "aiornot-dashboard",  # deterministic ids
    "text.parse_math": False,  # a "$" in a user name or version is just a dollar sign
    "font.size": 10,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#57606a",
    "axes.labelcolor": "#1b1f24",
    "xtick.color": "#57606a",
    "ytick.color": "#57606a",
    "legend.frameon": False,
}


def _figure(width: float = 7.0, height: float = 3.2, rows: int = 1, height_ratios=None):
    with rc_context(_RC):
        fig = Figure(figsize=(width, height), layout="constrained")
        if rows == 1:
            axes = fig.add_subplot()
        else:
            axes = fig.subplots(rows, 1, sharex=True, gridspec_kw={"height_ratios": height_ratios})
    return fig, axes


def _svg(fig, chart_id: str, title: str, desc: str) -> SafeString:
    buffer = io.StringIO()
    with rc_context(_RC), warnings.catch_warnings():
        # Text stays text in the SVG (the browser draws it with its own fonts), so a translated label
        # in a script the bundled font lacks (Korean) only affects matplotlib's width estimate.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, flags=re.S)  # a global "*" rule would leak into the page
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{chart_id}-\1"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{chart_id}-\1)", svg)
    svg = re.sub(r'href="#([^"]+)"', rf'href="#{chart_id}-\1"', svg)
    opening = re.match(r"<svg[^>]*>", svg).group(0)
    view_box = re.search(r'viewBox="([^"]+)"', opening).group(1)
    new_opening = (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{view_box}" class="chart" role="img" id="{chart_id}" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>'
    )
    return mark_safe(new_opening + svg[len(opening) :].strip())  # noqa: S308 - matplotlib escapes its text


def _percent_axis(axis) -> None:
    axis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))


def _pct(value) -> str:
    return _("no data") if value is None else f"{value * 100:.1f}%"


def _decision_label(code: str) -> str:
    try:
        return str(Decision(code).label)
    except ValueError:
        return code


def _verdict_label(code: str) -> str:
    try:
        return str(Verdict(code).label)
    except ValueError:
        return code


def _integer_axis(axis) -> None:
    axis.set_major_locator(MaxNLocator(integer=True))


def _date_labels(days: list[date]) -> list[str]:
    return [day.strftime("%m-%d") for day in days]


def _sparse_ticks(ax, positions, labels, most: int = 12) -> None:
    step = max(1, -(-len(positions) // most))
    ax.set_xticks(positions[::step], labels[::step])


# --- Charts --------------------------------------------------------------------------------------


def queue_age_chart(queue: dict) -> SafeString | None:
    if not queue["total"]:
        return None
    buckets = queue["age_buckets"]
    fig, ax = _figure(height=2.6)
    labels = [b["label"] for b in buckets]
    counts = [b["count"] for b in buckets]
    bars = ax.bar(labels, counts, color=ACCENT)
    ax.bar_label(bars, padding=2)
    ax.set_ylabel(_("cases waiting"))
    _integer_axis(ax.yaxis)
    ax.margins(y=0.15)
    desc = "; ".join(f"{b['label']}: {b['count']}" for b in buckets)
    return _svg(fig, "chart-queue-age", _("Cases waiting now, by how long they have waited"), desc)


def queue_depth_chart(series: dict) -> SafeString | None:
    points = series["points"]
    if not points or not any(p["depth"] or p["opened"] or p["decided"] for p in points):
        return None
    days = [p["date"] for p in points]
    x = list(range(len(days)))
    fig, ax = _figure()
    ax.bar([i - 0.2 for i in x], [p["opened"] for p in points], width=0.4, color="#c9d7ea", label=_("opened that day"))
    ax.bar([i + 0.2 for i in x], [p["decided"] for p in points], width=0.4, color="#cfe5d4", label=_("decided that day"))
    ax.plot(x, [p["depth"] for p in points], color=ACCENT, marker="o", markersize=3, linewidth=2,
            label=_("waiting at end of day"))
    _sparse_ticks(ax, x, _date_labels(days))
    _integer_axis(ax.yaxis)
    ax.set_ylabel(_("cases"))
    fig.legend(loc="outside upper center", ncols=3, fontsize=8)
    ax.margins(y=0.1)
    last = points[-1]
    desc = _(
        "From %(first)s to %(last)s: %(first_depth)s waiting at the end of the first day, "
        "%(last_depth)s at the end of the last; highest %(highest)s."
    ) % {
        "first": days[0].isoformat(), "last": days[-1].isoformat(), "first_depth": points[0]["depth"],
        "last_depth": last["depth"], "highest": max(p["depth"] for p in points),
    }
    return _svg(fig, "chart-queue-depth", _("Queue depth per day"), desc)


def throughput_chart(data: dict) -> SafeString | None:
    if not data["total"]:
        return None
    periods = data["periods"]
    x = list(range(len(periods)))
    reviewers = data["reviewers"]
    shown, rest = reviewers[:MAX_REVIEWER_SERIES], reviewers[MAX_REVIEWER_SERIES:]
    series = [(r["reviewer"], r["by_period"]) for r in shown]
    if rest:
        series.append((_("others"), [sum(r["by_period"][i] for r in rest) for i in x]))
    fig, ax = _figure()
    bottom = [0] * len(periods)
    for index, (name, counts) in enumerate(series):
        ax.bar(x, counts, bottom=bottom, color=REVIEWER_COLOURS[index % len(REVIEWER_COLOURS)], label=name, width=0.8)
        bottom = [b + c for b, c in zip(bottom, counts)]
    if data["per"] == "week":
        labels = [_("week of %(day)s") % {"day": label} for label in _date_labels(periods)]
    else:
        labels = _date_labels(periods)
    _sparse_ticks(ax, x, labels, most=8 if data["per"] == "week" else 12)
    _integer_axis(ax.yaxis)
    ax.set_ylabel(_("decisions per week") if data["per"] == "week" else _("decisions per day"))
    fig.legend(loc="outside right upper", fontsize=8)
    desc = _("%(n)s decisions in all. ") % {"n": data["total"]} + "; ".join(
        f"{r['reviewer']}: {r['total']}" for r in reviewers[:20]
    )
    title = _("Decisions per reviewer per week") if data["per"] == "week" else _("Decisions per reviewer per day")
    return _svg(fig, "chart-throughput", title, desc)


# Text widths for the confusion matrix's layout, estimated before drawing: matplotlib measures with
# its bundled font, which lacks Korean glyphs, so its own estimate cannot keep translated labels apart.
# An em per wide (CJK) character, 0.7 em per other one: a little more than DejaVu Sans needs.
TEXT_EM_NARROW = 0.7


def text_width_em(text: str) -> float:
    return sum(1.0 if unicodedata.east_asian_width(ch) in ("W", "F") else TEXT_EM_NARROW for ch in text)


def wrap_to_width(text: str, width_em: float) -> str:
    """Words (or, for a word too long, characters) joined into lines no wider than ``width_em``."""
    lines: list[str] = []
    for word in text.split():
        while text_width_em(word) > width_em and len(word) > 1:
            cut = 1
            while cut < len(word) and text_width_em(word[: cut + 1]) <= width_em:
                cut += 1
            if word.rfind("-", 0, cut) > 0:  # "AI-generated" breaks as "AI-" / "generated"
                cut = word.rfind("-", 0, cut) + 1
            if lines and not lines[-1]:
                lines[-1] = word[:cut]
            else:
                lines.append(word[:cut])
            word = word[cut:]
        if lines and lines[-1] and text_width_em(lines[-1] + " " + word) <= width_em:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(line for line in lines if line)


AGREEMENT_WIDTH_IN = 6.4
AGREEMENT_ROW_LABEL_EM = 14  # the model's verdicts, left of the grid
AGREEMENT_LABEL_PT = 10
AGREEMENT_COUNT_PT = 11
AGREEMENT_LINE = 1.4  # line height, in ems


def agreement_chart(data: dict) -> SafeString | None:
    """The confusion matrix. Its layout is fixed before drawing so no two labels can overlap at
    any count or in any language: a fixed margin holds the verdicts, column headings are wrapped
    to their column's width, each line is its own text anchored where the browser measures it,
    and a count too long for its cell is drawn smaller."""
    if not data["labelled"]:
        return None
    columns, rows = len(data["labels"]), len(data["verdicts"])
    em = AGREEMENT_LABEL_PT  # at 72 dpi a point is a pixel in the SVG
    line = AGREEMENT_LINE * em
    width_px = AGREEMENT_WIDTH_IN * 72
    row_label_px = AGREEMENT_ROW_LABEL_EM * em
    grid_left, grid_right = row_label_px + 3 * em, width_px - em
    cell_px = (grid_right - grid_left) / columns
    column_labels = [wrap_to_width(_decision_label(label), cell_px / em - 1).split("\n") for label in data["labels"]]
    row_labels = [wrap_to_width(_verdict_label(v), AGREEMENT_ROW_LABEL_EM - 1).split("\n") for v in data["verdicts"]]
    heading_lines = max(len(lines) for lines in column_labels)
    row_title = wrap_to_width(_("Model verdict at routing"), AGREEMENT_ROW_LABEL_EM).split("\n")
    cell_height_px = max(44, line * (max(len(lines) for lines in row_labels) + 1))
    # Top down: the two titles, the column headings, the grid. The row title sits left of the grid's
    # x range and the column title and headings inside it, so the two never meet.
    top_px = em + line * max(len(row_title), 1 + heading_lines)
    grid_bottom = top_px + rows * cell_height_px
    height_px = grid_bottom + em

    fig, ax = _figure(width=AGREEMENT_WIDTH_IN, height=height_px / 72)
    fig.set_layout_engine("none")

    def put(x_px, y_px, text, ha, color="#57606a"):  # y from the top, on the line's middle
        fig.text(x_px / width_px, 1 - y_px / height_px, text, fontsize=em, color=color, ha=ha, va="center")

    ax.set_position([grid_left / width_px, 1 - grid_bottom / height_px, (grid_right - grid_left) / width_px,
                     rows * cell_height_px / height_px])
    ax.set_axis_off()
    peak = max(max(row["counts"]) for row in data["matrix"]) or 1
    for r, row in enumerate(data["matrix"]):
        for c, count in enumerate(row["counts"]):
            share = count / peak
            ax.add_patch(Rectangle((c, r), 1, 1, facecolor=(0.043, 0.361, 0.678, 0.08 + 0.8 * share), edgecolor="white"))
            text = f"{count:,}"
            size = min(AGREEMENT_COUNT_PT, 0.8 * cell_px / text_width_em(text), 0.6 * cell_height_px)
            ax.text(c + 0.5, r + 0.5, text, ha="center", va="center",
                    color="white" if share > 0.55 else "#1b1f24", fontsize=size)
    ax.set_xlim(0, columns)
    ax.set_ylim(rows, 0)
    for i, text in enumerate(row_title):
        put(0, em / 2 + (i + 0.5) * line, text, "left", "#1b1f24")
    put((grid_left + grid_right) / 2, em / 2 + 0.5 * line, _("People's final label"), "center", "#1b1f24")
    for c, lines in enumerate(column_labels):
        first = top_px - len(lines) * line
        for i, text in enumerate(lines):
            put(grid_left + (c + 0.5) * cell_px, first + (i + 0.4) * line, text, "center")
    for r, lines in enumerate(row_labels):
        middle = top_px + (r + 0.5) * cell_height_px
        for i, text in enumerate(lines):
            put(grid_left - em * 0.6, middle + (i - (len(lines) - 1) / 2) * line, text, "right")
    desc = (
        _("%(n)s labelled images. ") % {"n": data["labelled"]}
        + "; ".join(
            _("model %(verdict)s: ") % {"verdict": _verdict_label(row["verdict"])}
            + ", ".join(
                _("%(n)s labelled %(label)s") % {"n": n, "label": _decision_label(label)}
                for label, n in zip(data["labels"], row["counts"])
            )
            for row in data["matrix"]
        )
        + _(". Agreement where both were decisive: %(rate)s.") % {"rate": _pct(data["agreement_rate"])}
    )
    return _svg(fig, "chart-agreement", _("Model verdict at routing against the final label"), desc)


def fpr_by_version_chart(versions: list[dict]) -> SafeString | None:
    rows = [v for v in versions if v["fpr"]["human_labelled"]]
    if not rows:
        return None
    fig, ax = _figure(height=max(1.6, 0.45 * len(rows) + 1.0))
    y = list(range(len(rows)))
    rates = [v["fpr"]["rate"] for v in rows]
    low = [v["fpr"]["rate"] - v["fpr"]["ci95_low"] for v in rows]
    high = [v["fpr"]["ci95_high"] - v["fpr"]["rate"] for v in rows]
    ax.barh(y, rates, color=AI_COLOUR, height=0.6)
    ax.errorbar(rates, y, xerr=[low, high], fmt="none", ecolor="#1b1f24", capsize=4, linewidth=1)
    for i, v in enumerate(rows):
        ax.text(min(v["fpr"]["ci95_high"] + 0.02, 0.8), i,
                _("%(rate)s (%(k)s of %(n)s)") % {
                    "rate": _pct(v["fpr"]["rate"]), "k": v["fpr"]["false_positives"], "n": v["fpr"]["human_labelled"],
                },
                va="center", fontsize=9)
    ax.set_yticks(y, [v["version"] or _("(unknown)") for v in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    _percent_axis(ax.xaxis)
    ax.set_xlabel(_("human-labelled images the model scored likely AI (bars: 95% Wilson interval)"))
    desc = "; ".join(
        _("%(version)s: %(rate)s, %(k)s of %(n)s, 95%% interval %(low)s to %(high)s") % {
            "version": v["version"] or _("(unknown)"), "rate": _pct(v["fpr"]["rate"]),
            "k": v["fpr"]["false_positives"], "n": v["fpr"]["human_labelled"],
            "low": _pct(v["fpr"]["ci95_low"]), "high": _pct(v["fpr"]["ci95_high"]),
        }
        for v in rows
    )
    return _svg(fig, "chart-fpr-versions", _("False-positive rate on human-labelled images, per model version"), desc)


def calibration_chart(data: dict) -> SafeString | None:
    if not data["labelled"]:
        return None
    fig, (ax, counts_ax) = _figure(width=5.5, height=4.6, rows=2, height_ratios=[3, 1])
    ax.plot([0, 1], [0, 1], linestyle="--", color=MUTED, linewidth=1, label=_("perfectly calibrated"))
    used = [b for b in data["bins"] if b["count"]]
    ax.plot([b["mean_p_ai"] for b in used], [b["share_labelled_ai"] for b in used], marker="o", color=ACCENT,
            linewidth=2, label=_("this model"))
    ax.set_ylim(-0.02, 1.02)
    _percent_axis(ax.yaxis)
    ax.set_ylabel(_("labelled AI by people"))
    ax.legend(loc="upper left", fontsize=8)
    width = 1 / len(data["bins"])
    counts_ax.bar([b["low"] for b in data["bins"]], [b["count"] for b in data["bins"]], width=width * 0.9,
                  align="edge", color=MUTED)
    counts_ax.set_xlim(0, 1)
    _percent_axis(counts_ax.xaxis)
    counts_ax.yaxis.set_major_locator(MaxNLocator(nbins=2, integer=True))
    counts_ax.set_xlabel(_("model P(AI) at routing"))
    counts_ax.set_ylabel(_("images"))
    ece = _("no data") if data["ece"] is None else f"{data['ece']:.3f}"
    desc = _("%(n)s images labelled ai or human; expected calibration error %(ece)s. ") % {
        "n": data["labelled"], "ece": ece,
    } + "; ".join(
        _("P(AI) %(low)s to %(high)s: %(count)s images, mean P(AI) %(mean)s, labelled AI %(share)s") % {
            "low": f"{b['low']:.1f}", "high": f"{b['high']:.1f}", "count": b["count"],
            "mean": _pct(b["mean_p_ai"]), "share": _pct(b["share_labelled_ai"]),
        }
        for b in used
    )
    return _svg(fig, "chart-calibration", _("Reliability diagram: model P(AI) against share labelled AI"), desc)


def score_histogram_chart(data: dict) -> SafeString | None:
    if not data["total"]:
        return None
    colours = {"human": HUMAN_COLOUR, "ai": AI_COLOUR, "unsure": UNSURE_COLOUR, "unlabelled": "#c7ccd1"}
    names = {
        "human": _("labelled human"), "ai": _("labelled AI"), "unsure": _("labelled unsure"),
        "unlabelled": _("no final label"),
    }
    fig, ax = _figure()
    lows = [b["low"] for b in data["bins"]]
    width = 1 / len(data["bins"])
    bottom = [0] * len(lows)
    for group in data["groups"]:
        counts = [b[group] for b in data["bins"]]
        if not any(counts):
            continue
        ax.bar(lows, counts, bottom=bottom, width=width * 0.95, align="edge", color=colours[group], label=names[group])
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set_xlim(0, 1)
    _percent_axis(ax.xaxis)
    _integer_axis(ax.yaxis)
    ax.set_xlabel(_("model P(AI)"))
    ax.set_ylabel(_("submissions"))
    fig.legend(loc="outside upper center", ncols=4, fontsize=8)
    ax.margins(y=0.05)
    totals = {group: sum(b[group] for b in data["bins"]) for group in data["groups"]}
    desc = _("%(n)s scored submissions: ") % {"n": data["total"]} + ", ".join(
        f"{totals[g]} {names[g]}" for g in data["groups"]
    ) + "."
    return _svg(fig, "chart-score-histogram", _("Histogram of model P(AI) by final label"), desc)


def all_charts(figures: dict) -> dict[str, SafeString | None]:
    return {
        "queue_age": queue_age_chart(figures["queue"]),
        "queue_depth": queue_depth_chart(figures["queue_depth"]),
        "throughput": throughput_chart(figures["throughput"]),
        "agreement": agreement_chart(figures["agreement"]),
        "fpr_by_version": fpr_by_version_chart(figures["model_versions"]),
        "calibration": calibration_chart(figures["calibration"]),
        "score_histogram": score_histogram_chart(figures["score_histogram"]),
    }
