"""The period report as CSV (the numbers), PNG charts, HTML and PDF, with no browser.

matplotlib draws with its Agg backend (no display, no browser) and the WenQuanYi Micro Hei
font, so officers' and units' Chinese names render instead of empty boxes. The HTML embeds
the same PNGs; the PDF is matplotlib's own, the numbers' pages and the chart pages.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dock.period_report.numbers import OfficerLine, PeriodReport

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CJK_FONT = "WenQuanYi Micro Hei"
CLIPS_COLOUR = "#1f5fa8"
EXPLAINED_COLOUR = "#2e8b57"
UNEXPLAINED_COLOUR = "#c0392b"

CSV_HEADER = (
    "unit",
    "officer_number",
    "clips",
    "hours_recorded",
    "handover_mean_hours",
    "handover_max_hours",
    "late_handovers",
    "interruptions_explained",
    "interruptions_unexplained",
    "exemptions",
    "viewings",
    "exports",
    "fixity_intact",
    "fixity_failed",
    "sample_answers",
    "sample_passed",
    "sample_score_pct",
)


def row_of(o: OfficerLine) -> tuple[str, ...]:
    score = o.sample_score_pct
    return (
        o.unit,
        o.officer,
        str(o.clips),
        f"{o.hours:.2f}",
        f"{o.handover_mean_h:.2f}",
        f"{o.handover_max_s / 3600:.2f}",
        str(o.late),
        str(o.explained),
        str(o.unexplained),
        str(o.exemptions),
        str(o.viewings),
        str(o.exports),
        str(o.fixity_intact),
        str(o.fixity_failed),
        str(o.sample_answers),
        str(o.sample_passed),
        "" if score is None else f"{score:.1f}",
    )


def to_csv(report: PeriodReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(row_of(o) for o in report.lines)
    return out.getvalue()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = [CJK_FONT, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def clips_chart(report: PeriodReport) -> Figure:
    """Clips per officer, one bar each, grouped by unit in the report's order."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    names = [f"{o.unit}\n{o.officer}" for o in report.lines]
    ax.bar(names, [o.clips for o in report.lines], color=CLIPS_COLOUR)
    ax.set_title("各警员视频数量 clips per officer")
    ax.set_ylabel("clips")
    fig.tight_layout()
    return fig


def interruptions_chart(report: PeriodReport) -> Figure:
    """Interruptions per unit, explained below, unexplained stacked on top."""
    plt = _pyplot()
    units = report.units()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    explained = [sum(o.explained for o in lines) for lines in units.values()]
    unexplained = [sum(o.unexplained for o in lines) for lines in units.values()]
    ax.bar(list(units), explained, color=EXPLAINED_COLOUR, label="已说明 explained")
    ax.bar(
        list(units),
        unexplained,
        bottom=explained,
        color=UNEXPLAINED_COLOUR,
        label="未说明 unexplained",
    )
    ax.set_title("中断 interruptions per unit")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside: never over a bar
    fig.tight_layout()
    return fig


def charts(report: PeriodReport) -> dict[str, Figure]:
    return {"clips": clips_chart(report), "interruptions": interruptions_chart(report)}


def png_bytes(fig: Figure) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def to_html(report: PeriodReport, pngs: dict[str, bytes]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in CSV_HEADER)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row_of(o)) + "</tr>"
        for o in report.lines
    )
    images = "".join(
        f'<figure><img alt="{name}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"></figure>'
        for name, png in pngs.items()
    )
    period = f"{report.start_utc:%Y-%m-%d} – {report.end_utc:%Y-%m-%d} (UTC, end excluded)"
    return (
        '<!doctype html><html lang="zh"><head><meta charset="utf-8">'
        f"<title>Period report {html.escape(period)}</title>"
        f'<style>body{{font-family:"{CJK_FONT}",sans-serif}}td,th{{border:1px solid #999;'
        "padding:2px 6px}table{border-collapse:collapse}</style></head><body>"
        f"<h1>执法记录仪 period report</h1><p>{html.escape(period)}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{images}"
        "</body></html>"
    )


PDF_ROWS_PER_PAGE = 40


def _text_width(text: str) -> int:
    """Width in Latin character cells: a CJK character takes two."""
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _table_page(plt: Any, title: str, rows: list[tuple[str, ...]]) -> Figure:
    """One A4 page of the numbers, a text block per column: a matplotlib table lays out
    every cell on its own, which took seconds for a few hundred officers."""
    fig, ax = plt.subplots(figsize=(11.7, 8.3))
    ax.axis("off")
    ax.set_title(title)
    columns = list(zip(CSV_HEADER, *rows, strict=True))
    widths = [max(_text_width(v) for v in column) + 2 for column in columns]
    x, total = 0, sum(widths)
    for column, width in zip(columns, widths, strict=True):
        ax.text(x / total, 1.0, "\n".join(column), fontsize=5, va="top", ha="left")
        x += width
    return fig


def to_pdf(report: PeriodReport, figures: dict[str, Figure], path: Path) -> None:
    plt = _pyplot()
    from matplotlib.backends.backend_pdf import PdfPages

    period = f"{report.start_utc:%Y-%m-%d} – {report.end_utc:%Y-%m-%d}"
    rows = [row_of(o) for o in report.lines] or [("",) * len(CSV_HEADER)]
    pages = range(0, len(rows), PDF_ROWS_PER_PAGE)
    with PdfPages(path) as pdf:
        for n, first in enumerate(pages, start=1):
            title = f"Period report {period} ({n}/{len(pages)})"
            fig = _table_page(plt, title, rows[first : first + PDF_ROWS_PER_PAGE])
            pdf.savefig(fig)
            plt.close(fig)
        for figure in figures.values():
            pdf.savefig(figure)


def write_all(report: PeriodReport, folder: Path) -> list[Path]:
    """report.csv, the charts as PNG, report.html and report.pdf in `folder`."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    figures = charts(report)
    pngs = {name: png_bytes(fig) for name, fig in figures.items()}
    written = [folder / "report.csv"]
    written[0].write_text(to_csv(report), encoding="utf-8")
    for name, png in pngs.items():
        written.append(folder / f"{name}.png")
        written[-1].write_bytes(png)
    written.append(folder / "report.html")
    written[-1].write_text(to_html(report, pngs), encoding="utf-8")
    written.append(folder / "report.pdf")
    to_pdf(report, figures, written[-1])
    for fig in figures.values():
        plt.close(fig)
    return written
