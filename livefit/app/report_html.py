"""``report.html`` of a live run on a synthetic workout: one self-contained file (no network, no
external files) with the annotated video, a timeline of the ground truth against the coach's
feedback (click a mark to jump the video there), every line in time order, and the metrics.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from livefit.io import atomic_write_text

FAVICON_B64 = base64.b64encode(
    (Path(__file__).resolve().parent / "static" / "favicon.svg").read_bytes()
).decode("ascii")

WIDTH = 1000  # timeline width in pixels
ROWS = {"exercise": 28, "ground truth": 62, "livefit coach": 96}
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#e15759"]
METRICS = (
    ("t_f_score", "T-F"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("meteor", "METEOR"),
    ("rouge_l", "ROUGE-L"),
)

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1040px;color:#222;
padding:0 12px}.wide{overflow-x:auto}
h1{font-size:22px;margin:0 0 4px}.sub{color:#666;margin:0 0 16px}
video{width:100%;max-width:760px;background:#111;border-radius:6px;display:block}
svg{background:#fafafa;border:1px solid #ddd;border-radius:6px;margin:12px 0;width:100%;
height:auto;max-width:1000px}
svg .mark{cursor:pointer}svg text{font-size:12px;fill:#333}
table{border-collapse:collapse;margin:8px 0 20px}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.coach{color:#b5651d}.truth{color:#2e7d32}tr.row{cursor:pointer}tr.row:hover{background:#fff8e1}
"""

SCRIPT = """
const v=document.querySelector('video');
document.querySelectorAll('[data-t]').forEach(e=>e.addEventListener('click',()=>{
  v.currentTime=parseFloat(e.dataset.t);v.play();}));
"""


def _x(t: float, duration: float) -> float:
    return 40 + (WIDTH - 60) * max(0.0, t) / max(duration, 1e-9)


def timeline_svg(
    spans: list[tuple[float, float, str]],
    truth: list[tuple[float, str]],
    coach: list[tuple[float, str]],
    duration: float,
) -> str:
    """The Fig.-4-style timeline: exercise bands, ground-truth marks, coach marks."""
    esc = html.escape
    parts = [f'<svg viewBox="0 0 {WIDTH} 130" role="img" aria-label="timeline">']  # scales
    for name, y in ROWS.items():
        parts.append(f'<text x="{_x(0, 1) - 4}" y="{y - 12}">{esc(name)}</text>')
    for k, (a, b, name) in enumerate(spans):
        x0, x1 = _x(a, duration), _x(b, duration)
        colour = PALETTE[k % len(PALETTE)]
        parts.append(
            f'<rect class="mark" data-t="{a:.2f}" x="{x0:.1f}" y="20" width="{x1 - x0:.1f}" '
            f'height="14" rx="3" fill="{colour}" opacity=".8"><title>{esc(name)} '
            f"({a:.1f}-{b:.1f} s)</title></rect>"
        )
    for rows, y, colour in (
        (truth, ROWS["ground truth"], "#2e7d32"),
        (coach, ROWS["livefit coach"], "#d9822b"),
    ):
        for t, text in rows:
            parts.append(
                f'<circle class="mark" data-t="{t:.2f}" cx="{_x(t, duration):.1f}" cy="{y}" '
                f'r="5" fill="{colour}"><title>{t:.1f} s: {esc(text)}</title></circle>'
            )
    step = 10 if duration <= 120 else 30
    for s in range(0, int(duration) + 1, step):
        x = _x(s, duration)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="108" y2="112" stroke="#999"/>')
        parts.append(f'<text x="{x - 6:.1f}" y="125">{s}s</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_report(
    run_dir: str | Path,
    truth: Any,
    summary: dict[str, Any],
    metrics: dict[str, dict[str, float]],
    results_title: str = "",
) -> Path:
    """Write ``run_dir/report.html`` for a run whose ``summary.json`` is ``summary``; ``truth``:
    the workout's ``livefit.app.demo.Truth`` (spans and lines on the stream clock)."""
    esc = html.escape
    run_dir = Path(run_dir)
    video = run_dir / (summary["files"]["video"] or "")
    spans, truth_lines = truth.spans, truth.lines
    coach = [(f["time"], f["text"]) for f in summary["feedbacks"]]
    duration = max([summary["stats"]["media_seconds"], *(b for _, b, _ in spans)])
    body = [
        f"<h1>livefit coach on a synthetic workout</h1><p class=sub>{esc(results_title)}"
        " &middot; QEVD-SIM ground truth against the coach, coached live</p>"
    ]
    if video.is_file():
        data = base64.b64encode(video.read_bytes()).decode("ascii")
        body.append(f'<video controls muted src="data:video/mp4;base64,{data}"></video>')
    body.append(timeline_svg(spans, truth_lines, coach, duration))
    head = "".join(f"<th>{label}</th>" for _, label in METRICS)
    body.append(f"<h2>Metrics (paper-exact)</h2><div class=wide><table><tr><th></th>{head}</tr>")
    for name, m in metrics.items():
        cells = "".join(f"<td class=n>{m[key]:.3f}</td>" for key, _ in METRICS)
        body.append(f"<tr><td>{esc(name)}</td>{cells}</tr>")
    s = summary["stats"]
    body.append(
        f"</table></div><p>Real-time factor {s['real_time_factor']:.3f} (compute seconds per "
        f"second of video), {s['frames_dropped']} frames dropped, {s['steps']} feature steps, "
        f"{s['feedbacks']} feedbacks.</p>"
    )
    body.append(
        "<h2>Every line</h2><table><tr><th>s</th><th>ground truth</th><th>livefit coach</th></tr>"
    )
    lines = sorted(
        [(t, text, "truth") for t, text in truth_lines] + [(t, text, "coach") for t, text in coach]
    )
    for t, text, who in lines:
        cells = (
            f"<td class=truth>{esc(text)}</td><td></td>"
            if who == "truth"
            else f"<td></td><td class=coach>{esc(text)}</td>"
        )
        body.append(f'<tr class=row data-t="{t:.2f}"><td class=n>{t:.1f}</td>{cells}</tr>')
    body.append("</table>")
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>livefit demo report</title>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f'<link rel=icon href="data:image/svg+xml;base64,{FAVICON_B64}">'
        f"<style>{STYLE}</style><body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n"
    )
    path = run_dir / "report.html"
    atomic_write_text(path, page)
    return path


__all__ = ["timeline_svg", "write_report"]
