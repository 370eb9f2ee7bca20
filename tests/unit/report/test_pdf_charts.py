"""The PDF draws its charts as vectors: WeasyPrint expands a palette
PNG to RGB, so 97 raster charts made a 4.8 MB sample report."""

from __future__ import annotations

import json

from rally_osic import cli
from tests.unit.report import factory


def _report(tmp_path, *extra):
    workload = factory.fault_workload(
        iterations=60, rps=3.0, fault_at=8.0, outage=(9.0, 12.0)
    )
    path = tmp_path / "results.json"
    path.write_text(json.dumps(factory.document([workload])))
    out = tmp_path / "out"
    argv = ["report", str(path), "-o", str(out), "-q", "--workers", "1"]
    assert cli.main([*argv, *extra]) == 0
    return out


def test_pdf_charts_are_vectors_and_html_keeps_its_png(tmp_path):
    out = _report(tmp_path, "--pdf")
    pdf = (out / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and b"/Subtype /Image" not in pdf
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 1
    assert "data:image/svg+xml" not in html
    # The SVG drawn for the PDF is not an output that was asked for.
    assert sorted(p.name for p in (out / "charts").iterdir()) == ["0001.png"]


def test_without_pdf_no_svg_is_drawn(tmp_path, monkeypatch):
    from rally_osic.report import runs

    drawn = []
    process = runs.process

    def spy(run, title, formats, overrides):
        drawn.append(tuple(formats))
        return process(run, title, formats, overrides)

    monkeypatch.setattr(runs, "process", spy)
    out = _report(tmp_path)
    assert drawn == [("png",)]
    assert not (out / "report.pdf").exists()
