"""The chart of one live-migration run: every migration, in order.

Top: the downtime of each migration by the network probe, by libvirt,
and what a 500 ms ping would have reported from the same packets (the
study's method). Bottom: each migration's duration by the API and
libvirt's own elapsed time. Failed migrations are marked in red. A
migration whose probe had nothing to reach has no point (not a zero).

Drawn on a bare matplotlib Figure with the Agg canvas (no pyplot state).
"""

from __future__ import annotations

import base64
import io

COLOURS = {
    "probe": "#1f5fa8",
    "libvirt": "#ef8c00",
    "ping": "#7b3fa0",
    "api": "#222222",
    "elapsed": "#2e7d32",
    "failed": "#d32f2f",
}


def _series(values):
    xs = [i + 1 for i, v in enumerate(values) if v is not None]
    return xs, [v for v in values if v is not None]


def _figure(run):
    """The drawn Figure of one :class:`livemigration.LiveMigrationRun`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    migrations = [m for e in run.evacuations for m in e.migrations]
    figure = Figure(figsize=(9.0, 5.2), dpi=100)
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True)
    for values, key, label, marker, size in (
        (
            [m.probe_downtime for m in migrations],
            "probe",
            "network probe",
            "o",
            4,
        ),
        (
            [m.libvirt_downtime for m in migrations],
            "libvirt",
            "libvirt",
            "s",
            7,
        ),
        (
            [m.ping_500ms_downtime for m in migrations],
            "ping",
            "500 ms ping (the study's method)",
            "x",
            5,
        ),
    ):
        xs, ys = _series([None if v is None else v * 1000 for v in values])
        if xs:
            # Hollow squares: the probe's dots stay visible inside them.
            top.plot(
                xs,
                ys,
                marker,
                color=COLOURS[key],
                label=label,
                markersize=size,
                markerfacecolor="none" if key == "libvirt" else COLOURS[key],
            )
    top.set_ylabel("downtime (ms)")
    for values, key, label in (
        ([m.duration for m in migrations], "api", "API (call -> ACTIVE)"),
        (
            [m.libvirt_time_elapsed for m in migrations],
            "elapsed",
            "libvirt time elapsed",
        ),
    ):
        xs, ys = _series(values)
        if xs:
            bottom.plot(
                xs, ys, ".-", color=COLOURS[key], label=label, linewidth=0.8
            )
    failed = [i + 1 for i, m in enumerate(migrations) if not m.success]
    for axis in (top, bottom):
        for x in failed:
            axis.axvline(x, color=COLOURS["failed"], alpha=0.4, linewidth=2)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="best", fontsize=7)
        axis.grid(alpha=0.3)
    bottom.set_ylabel("duration (s)")
    bottom.set_xlabel(
        "migration (in order)"
        + (f"; red: {len(failed)} failed" if failed else "")
    )
    top.set_title(
        f"{run.scenario}: {len(migrations)} migrations in "
        f"{len(run.evacuations)} evacuations",
        fontsize=9,
    )
    figure.tight_layout()
    return figure


def render_png(run) -> bytes:
    """A palette PNG of the run's chart, for the HTML."""
    import numpy as np

    from rally_osic.report import charts

    figure = _figure(run)
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[:, :, :3]
    return charts.palette_png(np.ascontiguousarray(pixels))


def render_svg(run) -> bytes:
    """An SVG of the run's chart, for the PDF: vector, and a fraction
    of the size of the PNG once WeasyPrint has expanded that to RGB."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        _figure(run).savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def data_uri(run, vector: bool = False) -> str:
    if vector:
        return "data:image/svg+xml;base64," + _base64(render_svg(run))
    return "data:image/png;base64," + _base64(render_png(run))


def _base64(content: bytes) -> str:
    return base64.b64encode(content).decode()
