import numpy as np

from rally_osic.measure import FaultAnalysis, Timeline
from rally_osic.report import charts


def test_failure_intervals_merge_consecutive_failures():
    starts = [0, 1, 2, 3, 4, 5]
    durations = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    failed = [False, True, True, False, True, False]
    assert charts.failure_intervals(starts, durations, failed) == [
        (1.0, 2.1),
        (4.0, 4.1),
    ]


def test_running_mean_is_cut_across_failures():
    timeline = Timeline.from_columns(
        [0, 1, 2, 3, 4], [1, 1, 1, 1, 1], [False, False, True, False, False]
    )
    times, values = charts.broken_at_failures(
        timeline, np.array([0.0, 1.0, 3.0, 4.0]), np.array([1.0] * 4)
    )
    assert np.isnan(times[2]) and len(times) == 5


def test_renders_png_and_svg():
    rng = np.random.default_rng(1)
    starts = np.arange(200) * 0.5 + 1e9
    failed = (starts > 1e9 + 50) & (starts < 1e9 + 60)
    durations = rng.uniform(0.1, 0.2, 200)
    analysis = FaultAnalysis(
        Timeline.from_columns(starts, durations, failed), 45
    )
    rendered = charts.render_chart(
        analysis, ("Rally task x", "A.b — kill"), 43.0, ("png", "svg")
    )
    assert rendered["png"].startswith(b"\x89PNG")
    assert b"<svg" in rendered["svg"][:500]
    assert b"Failure Injection" in rendered["svg"]


def test_png_writer_is_lossless():
    import io

    from PIL import Image

    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    image = Image.open(io.BytesIO(charts.png_bytes(pixels)))
    assert image.mode == "RGB" and image.size == (5, 7)
    assert (np.asarray(image) == pixels).all()
    assert round(image.info["dpi"][0]) == charts.DPI


def test_palette_png_is_lossless_up_to_256_colours():
    import io

    from PIL import Image

    rng = np.random.default_rng(5)
    colours = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    pixels = colours[rng.integers(0, 256, (40, 30))]
    image = Image.open(io.BytesIO(charts.palette_png(pixels)))
    assert image.mode == "P" and image.size == (30, 40)
    assert (np.asarray(image.convert("RGB")) == pixels).all()
    assert round(image.info["dpi"][0]) == charts.DPI


def test_palette_png_keeps_the_most_used_colours_and_maps_the_rest():
    import io

    from PIL import Image

    rng = np.random.default_rng(6)
    common = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    rare = rng.integers(0, 256, (50, 3), dtype=np.uint8)
    pixels = np.concatenate([np.repeat(common, 5, axis=0), rare]).reshape(
        38, 35, 3
    )
    image = Image.open(io.BytesIO(charts.palette_png(pixels)))
    out = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    assert (out[: 256 * 5] == np.repeat(common, 5, axis=0)).all()
    distances = ((rare[:, None, :].astype(int) - common) ** 2).sum(axis=2)
    assert (out[256 * 5 :] == common[distances.argmin(axis=1)]).all()


def test_a_chart_is_a_palette_png_well_under_its_rgb_size():
    import io

    from PIL import Image

    rng = np.random.default_rng(7)
    starts = np.arange(400) * 0.25 + 1e9
    failed = (starts > 1e9 + 50) & (starts < 1e9 + 55)
    timeline = Timeline.from_columns(
        starts, rng.uniform(0.1, 0.3, 400), failed
    )
    png = charts.render_chart(
        FaultAnalysis(timeline, 45), ("Rally task x", "A.b — kill"), 44.2
    )["png"]
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P"
    rgb = np.asarray(image.convert("RGB"))
    assert len(png) < 0.6 * len(charts.png_bytes(rgb))
    # The chart's own colours survive exactly.
    for colour in ("#ffffff", charts.COLOURS["failure_band"]):
        wanted = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        assert (rgb == wanted).all(axis=2).sum() > 1000, colour


def test_reused_figure_draws_each_chart_alone():
    """The per-process figure keeps no spans or legend of earlier charts:
    a chart drawn after another is the same as drawn first."""
    rng = np.random.default_rng(3)

    def analysis(fault_at, outage):
        starts = np.arange(300) * 0.5 + 1e9
        failed = (starts > 1e9 + outage) & (starts < 1e9 + outage + 8)
        durations = rng.uniform(0.1, 0.2, 300)
        timeline = Timeline.from_columns(starts, durations, failed)
        return FaultAnalysis(timeline, fault_at)

    first, second = analysis(40, 45), analysis(90, 100)
    title = ("Rally task x", "A.b — kill")
    alone = charts.render_chart(second, title, None, ("png", "svg"))
    charts.render_chart(first, title, 38.0, ("png", "svg"))
    after = charts.render_chart(second, title, None, ("png", "svg"))
    assert after["png"] == alone["png"]
    assert after["svg"].count(b"<image") == alone["svg"].count(b"<image")
    assert b"Fault took effect" not in after["svg"]


def test_text_cache_blits_the_pixels_that_drawing_gives(monkeypatch):
    """At FreeType's own 1/64 pixel steps the cached texts are exactly
    the drawn ones; at the default steps, no pixel is far off."""
    import io

    from PIL import Image

    rng = np.random.default_rng(4)
    starts = np.arange(400) * 0.25 + 1e9
    failed = (starts > 1e9 + 50) & (starts < 1e9 + 55)
    timeline = Timeline.from_columns(
        starts, rng.uniform(0.1, 0.3, 400), failed
    )
    analysis = FaultAnalysis(timeline, 45)
    title = ("Rally task 0fa17000", "Authenticate.keystone — kill (run 2)")

    def pixels():
        png = charts.render_chart(analysis, title, 44.2)["png"]
        image = Image.open(io.BytesIO(png)).convert("RGB")
        return np.asarray(image).astype(int)

    monkeypatch.setattr(charts, "TEXT_CACHE", False)
    drawn = pixels()
    monkeypatch.setattr(charts, "TEXT_CACHE", True)
    monkeypatch.setattr(charts.TextCache, "STEPS", 64)
    assert (pixels() == drawn).all()
    assert (pixels() == drawn).all()  # from the cache
    monkeypatch.setattr(charts.TextCache, "STEPS", 8)
    assert np.abs(pixels() - drawn).max() < 48
