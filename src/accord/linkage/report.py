"""The evaluation report: two PNG charts and one self-contained HTML page that embeds them.

- ``scores.png``: histogram of the match weight (or probability, when MATCHES has
  no weights) of the candidate pairs, true pairs and false pairs apart, on a
  log scale (false candidates usually outnumber true ones by far);
- ``precision-recall.png``: precision, recall and F1 against the threshold,
  with the chosen threshold marked;
- ``report.html``: the figures, the definitions, a table by threshold and both
  charts as base64 ``data:`` images: no scripts, fonts or styles from the
  network, so it can be mailed or archived as one file.

Charts are drawn with Matplotlib's Agg renderer on a ``Figure`` of their own
(no pyplot state), so reports can be drawn from worker threads and servers.
The report directory is written completely or not at all: files go to a
temporary directory beside it first.
"""

from __future__ import annotations

import base64
import html
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from accord.errors import InvalidInput
from accord.linkage.evaluate import SUMMARY_THRESHOLDS, Evaluation

SCORES_PNG, CURVE_PNG, REPORT_HTML = "scores.png", "precision-recall.png", "report.html"
_TRUE, _FALSE = "#00703c", "#d4351c"  # GOV.UK green and red


@dataclass
class ReportFiles:
    html: Path
    scores_png: Path
    curve_png: Path


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def scores_chart(evaluation: Evaluation) -> bytes:
    """Histogram of the scores of true and false candidate pairs, as PNG."""
    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot()
    true, false = evaluation.scores_true, evaluation.scores_false
    finite = np.concatenate([true[np.isfinite(true)], false[np.isfinite(false)]])
    if len(finite):
        low, high = float(finite.min()), float(finite.max())
        if low == high:
            low, high = low - 0.5, high + 0.5
        bins = np.linspace(low, high, 51)
        ax.hist(false[np.isfinite(false)], bins=bins, color=_FALSE, alpha=0.6, label=f"false pairs ({len(false):,})")
        ax.hist(true[np.isfinite(true)], bins=bins, color=_TRUE, alpha=0.6, label=f"true pairs ({len(true):,})")
        if any(len(x) for x in (true, false)):
            ax.set_yscale("log")
        if evaluation.score_name == "match_probability":
            ax.axvline(evaluation.threshold, color="#0b0c0c", linestyle="--", linewidth=1,
                       label=f"threshold {evaluation.threshold:g}")
    ax.set_xlabel(evaluation.score_name.replace("_", " "))
    ax.set_ylabel("candidate pairs (log scale)")
    ax.set_title("Scores of candidate pairs: true and false pairs")
    ax.legend(loc="upper center")
    return _png(figure)


def curve_chart(evaluation: Evaluation) -> bytes:
    """Precision, recall and F1 by threshold, as PNG."""
    figure = Figure(figsize=(7, 4))
    ax = figure.add_subplot()
    curve = evaluation.curve
    t = curve.column("threshold").to_numpy()
    extend = len(t) and t[-1] > 0  # below the lowest probability, every pair is predicted: the last values hold
    for name, colour in (("precision", "#1d70b8"), ("recall", "#f47738"), ("f1", "#4c2c92")):
        y = curve.column(name).to_numpy(zero_copy_only=False)
        ax.step(np.r_[t, 0.0] if extend else t, np.r_[y, y[-1:]] if extend else y, where="post", color=colour,
                label=name if name != "f1" else "F1")
    ax.axvline(evaluation.threshold, color="#0b0c0c", linestyle="--", linewidth=1,
               label=f"threshold {evaluation.threshold:g}")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("threshold (match probability at or above)")
    ax.set_ylabel("share")
    ax.set_title("Precision and recall by threshold")
    ax.legend(loc="lower left")
    return _png(figure)


def _number(value: float | int) -> str:
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    if value != value:  # NaN
        return "n/a"
    return f"{value:.4f}"


def report_html(evaluation: Evaluation, scores_png: bytes, curve_png: bytes, title: str,
                inputs: dict[str, str] | None = None) -> str:
    """The self-contained HTML page: figures, definitions, a table by threshold, the two charts inline."""
    e = evaluation
    summary = e.summary()
    rows = "".join(f"<tr><th scope='row'>{html.escape(label)}</th><td>{_number(summary[key])}</td></tr>"
                   for key, label in (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1"),
                                      ("blocking_recall", "Blocking recall"), ("true_pairs", "True pairs"),
                                      ("candidate_pairs", "Candidate pairs in MATCHES"),
                                      ("predicted_pairs", "Predicted pairs (at or above the threshold)"),
                                      ("true_positives", "True positives"), ("false_positives", "False positives"),
                                      ("false_negatives", "False negatives")))
    thresholds = sorted(set(SUMMARY_THRESHOLDS) | {e.threshold})
    by_threshold = "".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in (
            f"{t:g}" + (" (chosen)" if t == e.threshold else ""), _number(int(r["predicted"])),
            _number(int(r["true_positives"])), _number(float(r["precision"])), _number(float(r["recall"])),
            _number(float(r["f1"])))) + "</tr>"
        for t in thresholds for r in [e.at(t)])
    sources = "".join(f"<li>{html.escape(k)}: <code>{html.escape(v)}</code></li>" for k, v in (inputs or {}).items())
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def image(data: bytes, alt: str) -> str:
        return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: Arial, sans-serif; color: #0b0c0c; max-width: 60em; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border-bottom: 1px solid #b1b4b6; padding: 0.3em 0.8em; text-align: left; }}
td {{ font-variant-numeric: tabular-nums; }}
img {{ max-width: 100%; display: block; margin: 1em 0; }}
code {{ background: #f3f2f1; padding: 0 0.2em; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>Threshold: match probability at or above <strong>{e.threshold:g}</strong>. Generated {generated}.</p>
<ul>{sources}</ul>
<h2>Figures</h2>
<table>{rows}</table>
<h2>Definitions</h2>
<ul>
<li>A <em>pair</em> is one left record and one right record; a <em>true pair</em> is two records of the same
person according to the truth files.</li>
<li>Precision: true pairs among the predicted pairs. Recall: predicted true pairs among all true pairs.
F1: their harmonic mean.</li>
<li>Blocking recall: the share of true pairs that appear in MATCHES at any probability (the recall at
threshold 0). When MATCHES holds only pairs above the linkage's own threshold, it is the most recall any
threshold could reach.</li>
</ul>
<h2>Scores of true and false pairs</h2>
{image(scores_png, "Histogram of " + e.score_name.replace("_", " ") + " for true and false candidate pairs")}
<h2>Precision and recall by threshold</h2>
{image(curve_png, "Precision, recall and F1 against the threshold")}
<table>
<thead><tr><th>threshold</th><th>predicted</th><th>true positives</th><th>precision</th><th>recall</th><th>F1</th></tr></thead>
<tbody>{by_threshold}</tbody>
</table>
</body>
</html>
"""


def write_report(evaluation: Evaluation, directory: Path, title: str = "Linkage evaluation",
                 inputs: dict[str, str] | None = None) -> ReportFiles:
    """Write the two charts and the HTML page into ``directory`` (created; files in it replaced)."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory}: exists and is not a directory (the report needs a directory)")
    directory.parent.mkdir(parents=True, exist_ok=True)
    scores, curve = scores_chart(evaluation), curve_chart(evaluation)
    page = report_html(evaluation, scores, curve, title, inputs)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
    staging.chmod(0o755)
    try:
        (staging / SCORES_PNG).write_bytes(scores)
        (staging / CURVE_PNG).write_bytes(curve)
        (staging / REPORT_HTML).write_text(page, encoding="utf-8")
        if not directory.exists():
            os.replace(staging, directory)
        else:
            for name in (SCORES_PNG, CURVE_PNG, REPORT_HTML):  # the page last: it refers to nothing else
                os.replace(staging / name, directory / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ReportFiles(directory / REPORT_HTML, directory / SCORES_PNG, directory / CURVE_PNG)
