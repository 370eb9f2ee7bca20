"""The annotated chart of one fault run, as the whitepaper's legend reads.

Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas: no
pyplot global state, so charts can be rendered in worker processes.
"""

from __future__ import annotations

import functools
import io

import numpy as np

from rally_osic.measure import FaultAnalysis

COLOURS = {
    "baseline": "#d8efd3",
    "fault": "#7b3fa0",
    "effect": "#c2185b",
    "success": "#1f5fa8",
    "failure": "#d32f2f",
    "failure_band": "#f7c6c6",
    "threshold": "#ef8c00",
    "mean": "#222222",
    "degradation": "#ffd54f",
    "downtime": "#8e0000",
}
FIGURE_SIZE = (9.0, 4.3)  # inches
DPI = 100


def failure_intervals(starts, durations, failed) -> list[tuple[float, float]]:
    """[start, end] spans of consecutive failed operations (the red band).

    Operations are in start order; a span runs from the start of the first
    failure of a run of failures to the latest end among them, so a burst
    of short failed calls reads as one band, as in the whitepaper.
    """
    starts = np.asarray(starts, dtype=float)
    ends = starts + np.maximum(np.asarray(durations, dtype=float), 0.0)
    failed = np.asarray(failed, dtype=bool)
    edges = np.diff(np.concatenate(([0], failed.astype(np.int8), [0])))
    firsts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    spans: list[tuple[float, float]] = []
    for first, stop in zip(firsts, stops):
        start, end = float(starts[first]), float(ends[first:stop].max())
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def broken_at_failures(timeline, times, values):
    """The running-mean line, cut where failed operations lie between two
    successful ones (no line drawn across an outage)."""
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    failed_starts = timeline.starts[timeline.failed]
    if not len(failed_starts) or len(times) < 2:
        return times, values
    # Failures starting before each successful operation, cumulatively.
    before = np.searchsorted(failed_starts, times, side="left")
    gaps = np.flatnonzero(np.diff(before) > 0) + 1
    return (
        np.insert(times, gaps, np.nan),
        np.insert(values, gaps, np.nan),
    )


def render_chart(
    analysis: FaultAnalysis,
    title_lines: tuple[str, str],
    triggered_at: float | None = None,
    formats: tuple[str, ...] = ("png",),
) -> dict[str, bytes]:
    """Render the chart; ``analysis.fault_at`` is where the fault took
    effect when ``triggered_at`` (also seconds since load start) is given,
    else the trigger itself."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    timeline = analysis.timeline
    figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    end = max(timeline.end, analysis.fault_at, 1e-3)
    fault_line = triggered_at if triggered_at is not None else None

    baseline_end = min(
        analysis.fault_at if fault_line is None else fault_line, end
    )
    axes.axvspan(
        0,
        max(baseline_end, 0),
        color=COLOURS["baseline"],
        lw=0,
        label="Baseline",
        zorder=0,
    )
    for index, (start, stop) in enumerate(
        failure_intervals(timeline.starts, timeline.durations, timeline.failed)
    ):
        axes.axvspan(
            start,
            max(stop, start + end * 0.002),
            color=COLOURS["failure_band"],
            lw=0,
            zorder=0.7,
            label=None if index else "_failure band",
        )
    for index, period in enumerate(analysis.degradations_after_fault):
        axes.axvspan(
            period.start,
            period.end,
            color=COLOURS["degradation"],
            alpha=0.45,
            lw=0,
            zorder=0.6,
            label=None if index else "Degradation",
        )
    for index, outage in enumerate(analysis.outages_after_fault):
        axes.axvspan(
            outage.start,
            max(outage.end, outage.start + end * 0.003),
            ymin=0.94,
            ymax=1.0,
            color=COLOURS["downtime"],
            lw=0,
            zorder=3,
            label=None if index else "Downtime",
        )

    ok_starts, ok_durations = analysis.successful
    axes.plot(
        ok_starts,
        ok_durations,
        ls="",
        marker="o",
        ms=2.6,
        mew=0,
        color=COLOURS["success"],
        label="Success Ops",
        zorder=2,
    )
    bad_starts = timeline.starts[timeline.failed]
    bad_durations = timeline.durations[timeline.failed]
    if len(bad_starts):
        axes.plot(
            bad_starts,
            bad_durations,
            ls="",
            marker="o",
            ms=3.2,
            mew=0,
            color=COLOURS["failure"],
            label="Fail Ops",
            zorder=2.5,
        )
    threshold = analysis.baseline.threshold
    if threshold is not None:
        axes.axhline(
            threshold,
            color=COLOURS["threshold"],
            lw=1.2,
            ls="--",
            label=f"Degradation Threshold (p{analysis.baseline.percentile:g})",
            zorder=2.6,
        )
    mean_starts, means = broken_at_failures(timeline, *analysis.running_mean)
    if len(means):
        axes.plot(
            mean_starts,
            means,
            color=COLOURS["mean"],
            lw=1.0,
            label="Mean Duration",
            zorder=2.7,
        )
    if fault_line is not None:
        axes.axvline(
            fault_line,
            color=COLOURS["fault"],
            lw=1.6,
            label="Failure Injection",
            zorder=4,
        )
        axes.axvline(
            analysis.fault_at,
            color=COLOURS["effect"],
            lw=1.4,
            ls=":",
            label="Fault took effect",
            zorder=4,
        )
    else:
        axes.axvline(
            analysis.fault_at,
            color=COLOURS["fault"],
            lw=1.6,
            label="Failure Injection",
            zorder=4,
        )

    axes.set_xlim(0, end * 1.01)
    top = float(timeline.durations.max()) if len(timeline) else 1.0
    top = top or 1.0
    axes.set_ylim(0, top * 1.12)
    axes.set_xlabel("Seconds since load start")
    axes.set_ylabel("Operation duration (s)")
    # Figure text, not an axes title: no per-chart title layout pass.
    figure.text(
        0.07,
        0.975,
        "\n".join(title_lines),
        fontsize=9.5,
        va="top",
        ha="left",
    )
    axes.grid(True, color="#dddddd", lw=0.5, zorder=0)
    figure.subplots_adjust(left=0.07, right=0.77, top=0.86, bottom=0.12)
    measured = fault_line is not None

    rendered: dict[str, bytes] = {}
    for fmt in formats:
        buffer = io.BytesIO()
        if fmt == "png":
            # The legend is the same on every chart: blit a cached image
            # of it instead of laying out its text each time.
            legend = figure.figimage(
                legend_image(measured),
                xo=int(FIGURE_SIZE[0] * DPI * 0.78),
                yo=int(FIGURE_SIZE[1] * DPI * 0.86)
                - legend_image(measured).shape[0],
                origin="upper",
                zorder=10,
            )
            # zlib level 1: slightly larger files, several times faster.
            figure.savefig(
                buffer,
                format="png",
                metadata={"Software": None},
                pil_kwargs={"compress_level": 1},
            )
            legend.remove()
        else:
            legend = figure.legend(
                *legend_entries(measured),
                loc="upper left",
                bbox_to_anchor=(0.78, 0.86),
                fontsize=7.5,
                frameon=False,
                borderaxespad=0,
            )
            with matplotlib.rc_context({"svg.fonttype": "none"}):
                figure.savefig(buffer, format=fmt, metadata={"Date": None})
            legend.remove()
        rendered[fmt] = buffer.getvalue()
    return rendered


def legend_entries(measured: bool):
    """Handles and labels of the whitepaper legend (always all entries)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    entries = [
        (Patch(color=COLOURS["baseline"], lw=0), "Baseline"),
        (
            Line2D([], [], color=COLOURS["fault"], lw=1.6),
            "Failure Injection",
        ),
    ]
    if measured:
        entries.append(
            (
                Line2D([], [], color=COLOURS["effect"], lw=1.4, ls=":"),
                "Fault took effect",
            )
        )
    entries += [
        (
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=3.5,
                mew=0,
                color=COLOURS["success"],
            ),
            "Success Ops",
        ),
        (
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=4,
                mew=0,
                color=COLOURS["failure"],
                markerfacecoloralt=COLOURS["failure_band"],
            ),
            "Fail Ops",
        ),
        (
            Line2D([], [], color=COLOURS["threshold"], lw=1.2, ls="--"),
            "Degradation Threshold",
        ),
        (Line2D([], [], color=COLOURS["mean"], lw=1.0), "Mean Duration"),
        (
            Patch(color=COLOURS["degradation"], alpha=0.45, lw=0),
            "Degradation",
        ),
        (Patch(color=COLOURS["downtime"], lw=0), "Downtime"),
    ]
    return [e[0] for e in entries], [e[1] for e in entries]


@functools.cache
def legend_image(measured: bool):
    """RGBA pixels of the legend, rendered once per process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1.9, 1.9), dpi=DPI)
    canvas = FigureCanvasAgg(figure)
    figure.legend(
        *legend_entries(measured),
        loc="upper left",
        bbox_to_anchor=(0, 1),
        fontsize=7.5,
        frameon=False,
        borderaxespad=0,
    )
    figure.patch.set_alpha(0)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba()).copy()
    rows = np.flatnonzero(pixels[:, :, 3].max(axis=1))
    return pixels[: rows[-1] + 2] if len(rows) else pixels


def warm_up() -> None:
    """Import matplotlib and fill its font caches (before forking)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401

    legend_image(True)
    legend_image(False)
