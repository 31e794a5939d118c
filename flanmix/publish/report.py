"""`flanmix report`: PNG charts, summary.md and a self-contained index.html for a finished build.

matplotlib is an optional extra (`flanmix[report]`), imported only here and only when a report
is written; figures are drawn on an Agg canvas directly, so no GUI backend or pyplot state is
involved.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flanmix.publish.summary import (
    CONTAMINATION_HEADER,
    DROP_HEADER,
    LENGTH_HEADER,
    SELF_IMPROVE_HEADER,
    SELF_IMPROVE_NOTE,
    SHARE_HEADER,
    TASK_HEADER,
    TOKENS_HEADER,
    ReportError,
    Share,
    Summary,
    TaskRows,
    contamination_note,
    contamination_rows,
    drop_rows,
    length_rows,
    load_build,
    packing_note,
    pct,
    self_improve_rows,
    share_rows,
    summarize,
    summary_markdown,
    task_rows,
    task_titles,
    token_rows,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
WIDTH = 9.0  # inches: 900 px at DPI
PLANNED, REALISED, DROPPED = "#9ecae1", "#2171b5", "#cb4b3c"
LABEL_CHARS = 48  # longer task names are cut so the bars keep most of the width


@dataclass(frozen=True)
class Chart:
    file: str
    title: str


CHARTS = (
    Chart("collections.png", "Planned vs realised share by collection"),
    Chart("template_types.png", "Planned vs realised share by template type"),
    Chart("tasks.png", "Rows per task"),
    Chart("lengths.png", "Input and target lengths per collection"),
    Chart("drops.png", "Drops by reason"),
)


@dataclass(frozen=True)
class ReportResult:
    folder: Path
    files: list[Path]
    summary: Summary


def write_report(build_dir: Path, report_dir: Path | None = None) -> ReportResult:
    """Summarise the build in `build_dir` and write the report into `report_dir`
    (default `build_dir/report`). Only reads the build's own files."""
    build_dir = Path(build_dir)
    stats, manifest = load_build(build_dir)
    folder = Path(report_dir) if report_dir is not None else build_dir / "report"
    _check_destination(build_dir, folder)
    _require_matplotlib()  # before reading the shards: a missing extra fails fast
    summary = summarize(build_dir, stats, manifest)
    folder.mkdir(parents=True, exist_ok=True)
    draw: dict[str, Callable[[Summary], Figure]] = {
        "collections.png": lambda s: _share_chart(s.collections, s.mixture, "collection"),
        "template_types.png": lambda s: _share_chart(s.template_types, s.mixture, "template type"),
        "tasks.png": _tasks_chart,
        "lengths.png": _lengths_chart,
        "drops.png": _drops_chart,
    }
    files = []
    for chart in CHARTS:
        path = folder / chart.file
        _save(draw[chart.file](summary), path)
        files.append(path)
    md = f"# {summary.mixture}: build report\n\n" + summary_markdown(summary, level=2)
    (folder / "summary.md").write_text(md, encoding="utf-8")
    (folder / "index.html").write_text(index_html(summary, manifest), encoding="utf-8")
    files += [folder / "summary.md", folder / "index.html"]
    return ReportResult(folder=folder, files=files, summary=summary)


def _check_destination(build_dir: Path, folder: Path) -> None:
    """The report goes beside the dataset, never over it (data/ is what loaders read)."""
    build, dest = build_dir.resolve(), folder.resolve()
    data = build / "data"
    if dest in (build, data) or data in dest.parents:
        raise ReportError(
            f"--out {folder} would write the report among the build's own files; "
            f"use a folder of its own, e.g. {build_dir / 'report'} (the default)"
        )


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError(
            "flanmix report draws its charts with matplotlib, which is not installed; "
            "run: pip install 'flanmix[report]'"
        ) from None


def _new_figure(height: float, rows: int = 1, cols: int = 1) -> tuple[Figure, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)  # draw with Agg whatever backend the session has chosen
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig: Figure, path: Path) -> None:
    # No "Software" tag (it carries the matplotlib version), so the same build gives the
    # same PNG bytes on machines with the same matplotlib and fonts.
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})


def _height(n: int, per_bar: float = 0.42, extra: float = 1.6) -> float:
    return min(16.0, max(3.2, extra + per_bar * n))


def _short(name: str) -> str:
    """Cut long names in the middle: task names differ at both ends (prefix, number, suffix)."""
    if len(name) <= LABEL_CHARS:
        return name
    head = (LABEL_CHARS - 1) // 2
    return name[:head] + "…" + name[-(LABEL_CHARS - 1 - head) :]


def _percent_axis(ax: Axes, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _: f"{v * 100:g}%")  # 10%, 7.5%: no trailing zeros
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def _share_chart(shares: Sequence[Share], mixture: str, by: str) -> Figure:
    fig, axes = _new_figure(_height(len(shares), per_bar=0.62))
    ax = axes[0][0]
    ys = list(range(len(shares)))
    h = 0.38
    planned = ax.barh([y - h / 2 for y in ys], [s.planned for s in shares], h, color=PLANNED)
    realised = ax.barh([y + h / 2 for y in ys], [s.realised for s in shares], h, color=REALISED)
    for bars in (planned, realised):
        ax.bar_label(bars, labels=[pct(b.get_width()) for b in bars], padding=3, fontsize=8)
    ax.set_yticks(ys, [_short(s.name) for s in shares])
    ax.invert_yaxis()  # first name on top, as in the tables
    top = max([s.planned for s in shares] + [s.realised for s in shares] + [0.01])
    ax.set_xlim(0, top * 1.2)  # room for the value labels
    _percent_axis(ax)
    ax.set_xlabel("share of all rows")
    ax.set_title(f"{mixture}: share of rows by {by}")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    fig.legend(
        [planned, realised],
        ["planned (mixture weights)", "realised (rows written)"],
        loc="outside lower center",
        ncol=2,
        frameon=False,
    )
    return fig


def _collection_colors(summary: Summary) -> dict[str, str]:
    """One colour per collection, in the order of the collection table."""
    names = [c.name for c in summary.collections]
    names += sorted({t.collection for t in summary.top_tasks + summary.bottom_tasks} - set(names))
    return {name: f"C{i % 10}" for i, name in enumerate(names)}


def _task_panel(ax: Axes, tasks: Sequence[TaskRows], colors: dict[str, Any], title: str) -> None:
    ys = list(range(len(tasks)))
    bars = ax.barh(ys, [t.rows for t in tasks], 0.7, color=[colors[t.collection] for t in tasks])
    ax.bar_label(bars, labels=[f"{t.rows:,}" for t in tasks], padding=3, fontsize=8)
    ax.set_yticks(ys, [_short(t.task) for t in tasks], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max([t.rows for t in tasks] + [1]) * 1.15)
    ax.set_xlabel("rows written")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def _tasks_chart(summary: Summary) -> Figure:
    from matplotlib.patches import Patch

    colors = _collection_colors(summary)
    if summary.bottom_tasks:
        top_title, bottom_title = task_titles(summary)
        panels = [(summary.top_tasks, top_title), (summary.bottom_tasks, bottom_title)]
        title = f"{summary.mixture}: rows per task"
    else:
        panels = [(summary.top_tasks, "")]
        title = f"{summary.mixture}: rows per task (all {summary.n_tasks})"
    n = sum(len(tasks) for tasks, _ in panels)
    fig, axes = _new_figure(
        _height(n, per_bar=0.3, extra=1.4 + 0.6 * len(panels)), rows=len(panels)
    )
    for (tasks, panel_title), row in zip(panels, axes, strict=True):
        _task_panel(row[0], tasks, colors, panel_title)
    shown = {t.collection for tasks, _ in panels for t in tasks}
    handles = [Patch(color=c, label=name) for name, c in colors.items() if name in shown]
    fig.legend(
        handles=handles,
        title="collection",
        loc="outside lower center",
        ncol=min(4, max(1, len(handles))),
        frameon=False,
    )
    fig.suptitle(title)
    return fig


def _lengths_chart(summary: Summary) -> Figure:
    from matplotlib.ticker import NullFormatter

    fig, axes = _new_figure(4.6, cols=2)
    handles = []
    for ax, field, label in zip(axes[0], ("inputs", "targets"), ("Inputs", "Targets"), strict=True):
        edges = summary.length_edges[field]
        for i, (name, stats) in enumerate(summary.lengths[field].items()):
            share = [n / stats.count if stats.count else 0.0 for n in stats.bins]
            line = ax.stairs(share, edges, color=f"C{i % 10}", linewidth=1.8, label=name)
            if field == "inputs":
                handles.append(line)
        lo, hi = _occupied(summary, field)
        if summary.length_log[field]:
            # Lengths are long-tailed: log spacing shows both ends. symlog only when some rows
            # have 0 words, which a log axis cannot show.
            if lo > 0:
                ax.set_xscale("log")
            else:
                ax.set_xscale("symlog", linthresh=1, linscale=0.25)
            ticks = _log_ticks(lo, hi)
            ax.set_xticks(ticks, [f"{t:,}" for t in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("words (log scale)")
        else:
            ax.set_xlabel("words")
        ax.set_xlim(lo, hi)
        ax.set_ylim(0, None)
        _percent_axis(ax, "y")
        ax.set_ylabel("share of the collection's rows")
        total = summary.lengths_total[field]
        ax.set_title(f"{label}: p50 {total.p50:,}, p90 {total.p90:,}, max {total.max:,} words")
        ax.grid(alpha=0.3)
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(4, max(1, len(handles))),
        frameon=False,
    )
    fig.suptitle(f"{summary.mixture}: length distribution per collection")
    return fig


def _occupied(summary: Summary, field: str) -> tuple[int, int]:
    """The word range the field's non-empty bins span, so empty tails take no room."""
    edges = summary.length_edges[field]
    used = [i for stats in summary.lengths[field].values() for i, n in enumerate(stats.bins) if n]
    return (edges[min(used)], edges[max(used) + 1]) if used else (edges[0], edges[-1])


def _log_ticks(lo: int, hi: int) -> list[int]:
    """Round numbers to place on a log axis: 1, 2, 5, 10, 20, 50, … over a short range, powers
    of ten over a long one (1-2-5 labels would collide there). 0 when the axis starts at 0."""
    steps = (1, 2, 5) if hi <= 1000 * max(lo, 1) else (1,)
    ticks, decade = [0], 1
    while decade <= hi:
        ticks += [decade * m for m in steps]
        decade *= 10
    return [t for t in ticks if lo <= t <= hi]


def _drops_chart(summary: Summary) -> Figure:
    from matplotlib.ticker import StrMethodFormatter

    fig, axes = _new_figure(_height(len(summary.drops), per_bar=0.55))
    ax = axes[0][0]
    ax.set_title(f"{summary.mixture}: rows dropped, by reason")
    if not summary.drops:
        ax.text(0.5, 0.5, "No rows were dropped.", ha="center", va="center", fontsize=12)
        ax.set_axis_off()
        return fig
    reasons = [r for r, _ in summary.drops]
    counts = [n for _, n in summary.drops]
    ys = list(range(len(reasons)))
    bars = ax.barh(ys, counts, 0.6, color=DROPPED)
    read = summary.rows_read
    labels = [f"{n:,} ({pct(n / read)} of rows read)" if read else f"{n:,}" for n in counts]
    ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
    ax.set_yticks(ys, reasons)
    ax.invert_yaxis()
    ax.set_xlim(0, max(counts) * 1.45)  # room for the labels
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_xlabel(f"rows dropped (of {read:,} read, counting each leaf's rows)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


# ---- HTML -----------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 960px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; }
th { background: #f4f4f4; text-align: left; } td.r, th.r { text-align: right; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
code { background: #f4f4f4; padding: 0 0.2em; } .warn { color: #a33; font-weight: bold; }
"""


def _html_table(header: Sequence[str], align: str, rows: Sequence[Sequence[str]]) -> str:
    def cls(i: int) -> str:
        return ' class="r"' if align[i] == "r" else ""

    head = "".join(f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{html.escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(chart: Chart) -> str:
    return f'<p><img src="{chart.file}" alt="{html.escape(chart.title)}"></p>'


def index_html(summary: Summary, manifest: dict[str, Any]) -> str:
    """One page: the charts (by relative path, beside it) and the summary tables."""
    e = html.escape
    charts = {c.file: c for c in CHARTS}
    top_title, bottom_title = task_titles(summary)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(summary.mixture)}: flanmix build report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(summary.mixture)}: build report</h1>",
        f"<p>{summary.total_rows:,} rows from {summary.n_tasks} task(s) in "
        f"{len(summary.collections)} collection(s); {len(manifest.get('shards', []))} shard(s); "
        f"seed {e(str(manifest.get('seed')))}, epoch rule <code>{e(str(manifest.get('epoch')))}"
        f"</code>, spec hash <code>{e(str(manifest.get('spec_hash', ''))[:16])}</code>, built "
        f"with flanmix {e(str(manifest.get('flanmix_version', '?')))}. Planned shares come "
        "from the mixture's weights; realised shares are the rows written. Lengths are in "
        "words.</p>",
    ]
    parts += [f'<p class="warn">Warning: {e(w)}.</p>' for w in summary.warnings]
    parts += [
        "<h2>Shares by collection</h2>",
        _img(charts["collections.png"]),
        _html_table(["collection", *SHARE_HEADER], "lrrr", share_rows(summary.collections)),
        "<h2>Shares by template type</h2>",
        _img(charts["template_types.png"]),
        _html_table(["template type", *SHARE_HEADER], "lrrr", share_rows(summary.template_types)),
        "<h2>Rows per task</h2>",
        _img(charts["tasks.png"]),
        f"<h3>{e(top_title)}</h3>",
        _html_table(TASK_HEADER, "llrrr", task_rows(summary.top_tasks)),
    ]
    if summary.bottom_tasks:
        parts += [
            f"<h3>{e(bottom_title)}</h3>",
            _html_table(TASK_HEADER, "llrrr", task_rows(summary.bottom_tasks)),
        ]
    parts += ["<h2>Lengths (words) per collection</h2>", _img(charts["lengths.png"])]
    for field, title in (("inputs", "Inputs"), ("targets", "Targets")):
        parts += [
            f"<h3>{title}</h3>",
            _html_table(LENGTH_HEADER, "lrrrrrr", length_rows(summary, field)),
        ]
    parts += ["<h2>Drops by reason</h2>", _img(charts["drops.png"])]
    if summary.drops:
        parts.append(_html_table(DROP_HEADER, "lrr", drop_rows(summary)))
    else:
        parts.append("<p>No rows were dropped.</p>")
    if summary.contamination_action:
        parts += ["<h2>Decontamination</h2>", f"<p>{e(contamination_note(summary))}</p>"]
        if summary.contamination:
            parts.append(_html_table(CONTAMINATION_HEADER, "llr", contamination_rows(summary)))
        else:
            parts.append("<p>No row shares an n-gram with the eval sets.</p>")
    if summary.tokens:
        parts.append("<h2>Tokens</h2>")
        if summary.packing:
            parts.append(f"<p>{e(packing_note(summary))}</p>")
        parts.append(_html_table(TOKENS_HEADER, "lrrr", token_rows(summary)))
    if summary.self_improve:
        parts += ["<h2>Self-improvement</h2>", f"<p>{e(SELF_IMPROVE_NOTE)}</p>"]
        parts.append(_html_table(SELF_IMPROVE_HEADER, "lrrrrr", self_improve_rows(summary)))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
