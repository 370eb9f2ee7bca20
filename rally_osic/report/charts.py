"""The annotated chart of one fault run, as the whitepaper's legend reads.

Drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas: no
pyplot global state, so charts can be rendered in worker processes. Each
process builds its figure once and only updates data, limits and spans per
chart; repeated texts are blitted from a cache and the PNG is written with
a palette of the chart's 256 most used colours (see :func:`palette_png`).
"""

from __future__ import annotations

import functools
import io
import struct
import zlib

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
PIXELS_PER_METRE = round(DPI / 0.0254)  # the PNG's pHYs resolution
TEXT_CACHE = True  # blit repeated texts of PNG charts (see TextCache)


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


class _Chart:
    """One figure, its axes and its persistent artists, reused for every
    chart a process draws: only data, limits and the spans change, so the
    axes, ticks and text objects are built once per process."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.figure = figure = Figure(figsize=FIGURE_SIZE, dpi=DPI)
        self.canvas = FigureCanvasAgg(figure)
        self.axes = axes = figure.add_subplot(1, 1, 1)
        axes.set_autoscale_on(False)
        empty: list[float] = []
        self.success = axes.plot(
            empty,
            empty,
            ls="",
            marker="o",
            ms=2.6,
            mew=0,
            color=COLOURS["success"],
            label="Success Ops",
            zorder=2,
        )[0]
        self.failure = axes.plot(
            empty,
            empty,
            ls="",
            marker="o",
            ms=3.2,
            mew=0,
            color=COLOURS["failure"],
            label="Fail Ops",
            zorder=2.5,
        )[0]
        self.threshold = axes.axhline(
            0,
            color=COLOURS["threshold"],
            lw=1.2,
            ls="--",
            label="Degradation Threshold",
            zorder=2.6,
        )
        self.mean = axes.plot(
            empty,
            empty,
            color=COLOURS["mean"],
            lw=1.0,
            label="Mean Duration",
            zorder=2.7,
        )[0]
        self.injection = axes.axvline(
            0,
            color=COLOURS["fault"],
            lw=1.6,
            label="Failure Injection",
            zorder=4,
        )
        self.effect = axes.axvline(
            0,
            color=COLOURS["effect"],
            lw=1.4,
            ls=":",
            label="Fault took effect",
            zorder=4,
        )
        axes.set_xlabel("Seconds since load start")
        axes.set_ylabel("Operation duration (s)")
        # Figure text, not an axes title: no per-chart title layout pass.
        self.title = figure.text(
            0.07, 0.975, "", fontsize=9.5, va="top", ha="left"
        )
        axes.grid(True, color="#dddddd", lw=0.5, zorder=0)
        figure.subplots_adjust(left=0.07, right=0.77, top=0.86, bottom=0.12)
        self.spans: list = []

    def span(self, start, stop, ymin=0.0, ymax=1.0, **kwargs) -> None:
        """A vertical span, as ``axvspan`` draws it, without the data-limit
        and autoscale bookkeeping (the limits are set explicitly)."""
        from matplotlib.patches import Rectangle

        rectangle = Rectangle(
            (start, ymin),
            stop - start,
            ymax - ymin,
            transform=self.axes.get_xaxis_transform(),
            lw=0,
            **kwargs,
        )
        self.spans.append(self.axes.add_artist(rectangle))

    def add_legend(self, measured: bool, fault: bool = True):
        """The cached legend image, blitted at the legend's place.

        Removed after each PNG (not hidden: SVG composites even hidden
        figure images)."""
        pixels = legend_image(measured, fault)
        return self.figure.figimage(
            pixels,
            xo=int(FIGURE_SIZE[0] * DPI * 0.78),
            yo=int(FIGURE_SIZE[1] * DPI * 0.86) - pixels.shape[0],
            origin="upper",
            zorder=10,
        )


@functools.cache
def _chart() -> _Chart:
    return _Chart()


TITLE_CHARS = 110  # of one title line: what fits the figure's width


def render_chart(
    analysis: FaultAnalysis,
    title_lines: tuple[str, str],
    triggered_at: float | None = None,
    formats: tuple[str, ...] = ("png",),
    fault: bool = True,
) -> dict[str, bytes]:
    """Render the chart; ``analysis.fault_at`` is where the fault took
    effect when ``triggered_at`` (also seconds since load start) is given,
    else the trigger itself. Without a ``fault`` (a baseline-only run) the
    whole run is baseline and no fault line is drawn.

    The title lines come from results: they go through the output layer,
    each as one line that fits the figure."""
    from rally_osic.output import safe_line

    titles = tuple(safe_line(line, TITLE_CHARS) for line in title_lines)
    chart = _chart()
    try:
        return _render(chart, analysis, titles, triggered_at, formats, fault)
    finally:
        for artist in chart.spans:
            artist.remove()
        chart.spans.clear()


def _render(chart, analysis, title_lines, triggered_at, formats, fault):
    import matplotlib

    timeline = analysis.timeline
    figure, axes = chart.figure, chart.axes
    end = max(timeline.end, analysis.fault_at if fault else 0.0, 1e-3)
    fault_line = triggered_at if triggered_at is not None else None

    baseline_end = (
        min(analysis.fault_at if fault_line is None else fault_line, end)
        if fault
        else end
    )
    chart.span(
        0,
        max(baseline_end, 0),
        color=COLOURS["baseline"],
        zorder=0,
    )
    for start, stop in failure_intervals(
        timeline.starts, timeline.durations, timeline.failed
    ):
        chart.span(
            start,
            max(stop, start + end * 0.002),
            color=COLOURS["failure_band"],
            zorder=0.7,
        )
    for period in analysis.degradations_after_fault:
        chart.span(
            period.start,
            period.end,
            color=COLOURS["degradation"],
            alpha=0.45,
            zorder=0.6,
        )
    for outage in analysis.outages_after_fault:
        chart.span(
            outage.start,
            max(outage.end, outage.start + end * 0.003),
            ymin=0.94,
            ymax=1.0,
            color=COLOURS["downtime"],
            zorder=3,
        )

    chart.success.set_data(*analysis.successful)
    failed = timeline.failed
    chart.failure.set_data(timeline.starts[failed], timeline.durations[failed])
    chart.failure.set_visible(bool(failed.any()))
    threshold = analysis.baseline.threshold
    chart.threshold.set_visible(threshold is not None)
    if threshold is not None:
        chart.threshold.set_ydata([threshold, threshold])
    mean_starts, means = broken_at_failures(timeline, *analysis.running_mean)
    chart.mean.set_data(mean_starts, means)
    chart.mean.set_visible(bool(len(means)))
    measured = fault and fault_line is not None
    injection = fault_line if measured else analysis.fault_at
    chart.injection.set_visible(fault)
    if fault:
        chart.injection.set_xdata([injection, injection])
        chart.effect.set_xdata([analysis.fault_at, analysis.fault_at])
    chart.effect.set_visible(measured)

    axes.set_xlim(0, end * 1.01)
    top = float(timeline.durations.max()) if len(timeline) else 1.0
    top = top or 1.0
    axes.set_ylim(0, top * 1.12)
    chart.title.set_text("\n".join(title_lines))

    rendered: dict[str, bytes] = {}
    for fmt in formats:
        buffer = io.BytesIO()
        if fmt == "png":
            # The legend is the same on every chart: blit a cached image
            # of it instead of laying out its text each time.
            legend = chart.add_legend(measured, fault)
            try:
                _write_png(chart, buffer)
            finally:
                legend.remove()
        else:
            legend = figure.legend(
                *legend_entries(measured, fault),
                loc="upper left",
                bbox_to_anchor=(0.78, 0.86),
                fontsize=7.5,
                frameon=False,
                borderaxespad=0,
            )
            try:
                with matplotlib.rc_context({"svg.fonttype": "none"}):
                    figure.savefig(buffer, format=fmt, metadata={"Date": None})
            finally:
                legend.remove()
        rendered[fmt] = buffer.getvalue()
    return rendered


def _write_png(chart: _Chart, buffer: io.BytesIO) -> None:
    """Draw the figure and write it as an opaque RGB PNG."""
    renderer = chart.canvas.get_renderer()
    cached = isinstance(vars(renderer).get("draw_text"), TextCache)
    if TEXT_CACHE and not cached:
        renderer.draw_text = TextCache(renderer)
    elif cached and not TEXT_CACHE:
        del renderer.draw_text
    chart.canvas.draw()
    pixels = np.asarray(chart.canvas.buffer_rgba())[:, :, :3]
    buffer.write(palette_png(pixels))


class TextCache:
    """``draw_text`` of an Agg renderer that draws each text once and then
    blits its pixels: tick labels, axis labels and titles repeat from
    chart to chart, and laying out and rasterising glyphs is most of the
    cost of a chart.

    Entries are kept per position within a pixel, in 1/``STEPS`` pixel
    steps: a blitted text is at most 1/16 pixel from where it would be
    drawn (FreeType positions glyphs in 1/64 pixel steps; with
    ``STEPS = 64`` the pixels are exactly those of drawing).
    """

    STEPS = 8
    LIMIT = 4096  # entries; the cache is emptied when it is full

    def __init__(self, renderer) -> None:
        self.renderer = renderer
        self.draw = renderer.draw_text
        self.images: dict[tuple, tuple | None] = {}

    def __call__(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if ismath or gc.get_alpha() != 1.0:
            return self.draw(gc, x, y, s, prop, angle, ismath, mtext)
        ix, fx = divmod(round(x * self.STEPS), self.STEPS)
        iy, fy = divmod(round(y * self.STEPS), self.STEPS)
        key = (
            s,
            tuple(prop.get_family()),
            prop.get_style(),
            prop.get_variant(),
            prop.get_weight(),
            prop.get_stretch(),
            prop.get_size_in_points(),
            prop.get_file(),
            angle,
            self.STEPS,
            fx,
            fy,
            tuple(gc.get_rgb()),
            gc.get_antialiased(),
            mtext.get_fontfeatures() if mtext is not None else None,
            mtext.get_language() if mtext is not None else None,
        )
        if key not in self.images:
            if len(self.images) >= self.LIMIT:
                self.images.clear()
            self.images[key] = self._render(
                gc, fx / self.STEPS, fy / self.STEPS, s, prop, angle, mtext
            )
        entry = self.images[key]
        if entry is not None:
            image, dx, dy = entry
            # draw_text's y runs downwards, draw_image's upwards.
            height = int(self.renderer.height)
            self.renderer.draw_image(gc, ix + dx, height - (iy + dy), image)

    def _render(self, gc, fx, fy, s, prop, angle, mtext):
        """(RGBA pixels bottom row first, offset right and down of their
        lower left corner from the whole pixel of the anchor) of the text,
        or None if it draws nothing."""
        from matplotlib.backends.backend_agg import RendererAgg

        width, height, descent = self.renderer.get_text_width_height_descent(
            s, prop, False
        )
        margin = int(self.renderer.dpi / 6) + 8
        if angle == 0:  # from the baseline: right, up and down a little
            size = (int(width) + 2 * margin, int(height) + 2 * margin)
            anchor = (margin, margin + int(height - descent))
        else:
            side = int(max(width, height)) + margin
            size, anchor = (2 * side, 2 * side), (side, side)
        small = RendererAgg(*size, self.renderer.dpi)
        small_gc = small.new_gc()
        small_gc.copy_properties(gc)
        small_gc.set_clip_rectangle(None)
        small_gc.set_clip_path(None)
        small.draw_text(
            small_gc,
            anchor[0] + fx,
            anchor[1] + fy,
            s,
            prop,
            angle,
            False,
            mtext,
        )
        small_gc.restore()
        pixels = np.asarray(small.buffer_rgba())
        alpha = pixels[:, :, 3]
        rows = np.flatnonzero(alpha.any(axis=1))
        cols = np.flatnonzero(alpha.any(axis=0))
        if not len(rows):
            return None
        top, bottom = rows[0], rows[-1] + 1
        left, right = cols[0], cols[-1] + 1
        # draw_image takes rows bottom up.
        image = pixels[top:bottom, left:right][::-1].copy()
        return image, int(left) - anchor[0], int(bottom) - anchor[1]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data))
    )


def png_bytes(rgb: np.ndarray) -> bytes:
    """A lossless 8-bit RGB PNG of ``rgb`` (height x width x 3).

    Rows are unfiltered and deflated at zlib level 3: charts are mostly
    flat colour, so this is smaller than Pillow's adaptive filtering at
    level 1 and several times faster.
    """
    height, width, _ = rgb.shape
    rows = np.empty((height, width * 3 + 1), dtype=np.uint8)
    rows[:, 0] = 0  # filter type None
    rows[:, 1:] = rgb.reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return _png(header, [], zlib.compress(rows.tobytes(), 3))


PALETTE_SIZE = 256


def palette_png(rgb: np.ndarray) -> bytes:
    """An 8-bit indexed PNG of ``rgb``: a third of the RGB one's size.

    The 256 most used colours are kept exactly; every other colour (the
    few anti-aliased pixels where a line crosses a fill) takes the
    nearest of them. A chart's fills, lines and text are drawn in far
    fewer colours, so only edge pixels change, and an image of 256
    colours or fewer is lossless.
    """
    height, width, _ = rgb.shape
    packed = (
        rgb[:, :, 0].astype(np.uint32) << 16
        | rgb[:, :, 1].astype(np.uint32) << 8
        | rgb[:, :, 2]
    ).ravel()
    colours, inverse, counts = np.unique(
        packed, return_inverse=True, return_counts=True
    )
    kept = np.argsort(-counts, kind="stable")[:PALETTE_SIZE]
    unpacked = np.stack(
        [colours >> 16, (colours >> 8) & 0xFF, colours & 0xFF], axis=1
    ).astype(np.int32)
    palette = unpacked[kept]
    slot = np.empty(len(colours), dtype=np.intp)
    if len(colours) > PALETTE_SIZE:
        rest = np.ones(len(colours), dtype=bool)
        rest[kept] = False
        # |a - b|^2 = |a|^2 - 2 a.b + |b|^2; |a|^2 is the same for every
        # choice of b. einsum, not @: a BLAS product of these small
        # arrays spins up BLAS threads in every chart worker, which cost
        # more CPU than the whole chart.
        others = unpacked[rest].astype(np.float32)
        choices = palette.astype(np.float32)
        products = np.einsum("ij,kj->ik", others, choices)
        distance = (choices**2).sum(axis=1) - 2 * products
        slot[rest] = distance.argmin(axis=1)
    slot[kept] = np.arange(len(kept))
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # filter None
    rows[:, 1:] = slot[inverse].reshape(height, width)
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    plte = palette.astype(np.uint8).tobytes()
    return _png(header, [(b"PLTE", plte)], zlib.compress(rows.tobytes(), 6))


def _png(header: bytes, chunks, pixels: bytes) -> bytes:
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            *(_png_chunk(kind, data) for kind, data in chunks),
            _png_chunk(
                b"pHYs",
                struct.pack(">IIB", PIXELS_PER_METRE, PIXELS_PER_METRE, 1),
            ),
            _png_chunk(b"IDAT", pixels),
            _png_chunk(b"IEND", b""),
        )
    )


def legend_entries(measured: bool, fault: bool = True):
    """Handles and labels of the whitepaper legend (all entries, but no
    fault lines for a run without a fault)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    entries = [(Patch(color=COLOURS["baseline"], lw=0), "Baseline")]
    if fault:
        entries.append(
            (
                Line2D([], [], color=COLOURS["fault"], lw=1.6),
                "Failure Injection",
            )
        )
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
def legend_image(measured: bool, fault: bool = True):
    """RGBA pixels of the legend, rendered once per process."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(1.9, 1.9), dpi=DPI)
    canvas = FigureCanvasAgg(figure)
    figure.legend(
        *legend_entries(measured, fault),
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
    legend_image(False, False)
    _chart()
