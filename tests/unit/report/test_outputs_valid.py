"""Outputs stay valid whatever the strings of the results hold: NUL and
control characters, bidirectional overrides, and unbreakable strings of
4 KB and 1 MB."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

from rally_osic import cli
from rally_osic.report import loader
from tests.unit.report import factory

HOSTILE = "nul\x00 bell\x07 esc\x1b[31m c1\x9b rtl\u202eexe.txt lone\ud800"
RAW = ("\x00", "\x07", "\x1b", "\x9b", "\u202e", "\ud800")


def hostile_document():
    workload = factory.fault_workload(
        iterations=60,
        rps=3.0,
        fault_at=8.0,
        outage=(9.0, 12.0),
        degraded=(12.0, 14.0),
        error=(f"Err {HOSTILE}", f"msg {HOSTILE}"),
    )
    workload["hooks"][0]["config"]["description"] = f"kill {HOSTILE}"
    workload["scenario"] = {f"Authenticate.keystone {HOSTILE}": {}}
    workload["description"] = f"desc {HOSTILE}"
    workload["sla_results"] = {
        "sla": [
            {
                "criterion": f"failure_rate {HOSTILE}",
                "success": False,
                "detail": f"detail {HOSTILE}",
            }
        ]
    }
    document = factory.document([workload])
    document["tasks"][0]["title"] = f"title {HOSTILE}"
    return document


def run(path, out, *extra):
    return cli.main(
        ["report", str(path), "-o", str(out), "-q", "--workers", "1", *extra]
    )


def test_control_and_bidi_characters_leave_every_output_valid(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(hostile_document()))
    out = tmp_path / "out"
    assert run(path, out, "--svg") == 0
    junit = (out / "fault-verdicts.xml").read_text()
    root = ElementTree.fromstring(junit)  # well-formed XML 1.0
    assert "\\x00" in root.find("testsuite").get("name")
    for svg in (out / "charts").glob("*.svg"):
        ElementTree.fromstring(svg.read_text())
    html = (out / "report.html").read_text()
    for text in (junit, html):
        assert not any(raw in text for raw in RAW)
    assert "rtl\\u202eexe.txt" in html and "esc\\x1b[31m" in html


def long_string_document(size):
    workload = factory.fault_workload(
        iterations=100,
        rps=5.0,
        fault_at=8.0,
        outage=(9.0, 12.0),
        degraded=(12.0, 14.0),
        error=("E" * size, "M" * size),
    )
    workload["hooks"][0]["config"]["description"] = "H" * size
    return factory.document([workload])


def test_unbreakable_4k_and_1m_strings_render_chart_html_and_pdf(tmp_path):
    for size in (4096, 1 << 20):
        path = tmp_path / f"results-{size}.json"
        path.write_text(json.dumps(long_string_document(size)))
        out = tmp_path / f"out-{size}"
        assert run(path, out, "--pdf", "--svg") == 0
        assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
        assert (out / "charts" / "0001.png").stat().st_size > 1000
        html = (out / "report.html").read_text()
        # Shown shortened, with the whole text in the details (as loaded:
        # at most loader.MAX_STRING characters of each).
        assert (
            "E" * 119 + "…" in html
            and "E" * 121 not in html.split("<details")[0]
        )
        whole = min(size, loader.MAX_STRING)
        assert "E" * whole in html
        # Titles: at most 200 characters; the whole description is in the
        # workload's configuration in the appendix.
        body, appendix = html.split('<section id="appendix">')
        assert "H" * 199 + "…" in body and "H" * 200 not in body
        assert "H" * whole in appendix
        svg = (out / "charts" / "0001.svg").read_text()
        assert "H" * 80 in svg and "H" * 90 not in svg  # one line of 110
