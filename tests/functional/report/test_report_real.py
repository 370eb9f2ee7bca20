"""The report of a real Rally run, checked the way a person would."""

import shutil
import subprocess
import xml.etree.ElementTree as ElementTree

import pytest

from tests.functional.report.chromium import Chromium, chromium_path
from tests.functional.report.conftest import RALLY, rally_env

pytestmark = pytest.mark.functional

PLANTED = "Service unavailable <script>alert('x')</script>"


def test_outputs_and_junit(report_dir):
    names = sorted(p.name for p in report_dir.iterdir())
    assert names == [
        ".rally-osic-report.json",
        "charts",
        "fault-verdicts.xml",
        "report.html",
        "report.pdf",
    ]
    assert sorted(p.name for p in (report_dir / "charts").iterdir()) == [
        "0001.png",
        "0001.svg",
        "0002.png",
        "0002.svg",
    ]
    root = ElementTree.parse(report_dir / "fault-verdicts.xml").getroot()
    names = [case.get("name") for case in root.iter("testcase")]
    assert names == [
        "run 1: fault_downtime",
        "run 1: fault_recovery",
        "run 2: fault_downtime",
        "run 2: fault_recovery",
    ]


@pytest.mark.skipif(not chromium_path(), reason="chromium is not installed")
def test_html_in_headless_chromium(report_dir, tmp_path):
    with Chromium() as browser:
        page = browser.open((report_dir / "report.html").as_uri())
        text = browser.evaluate("document.body.innerText")
        scripts = browser.evaluate("document.scripts.length")
        handlers = browser.evaluate(
            "Array.from(document.querySelectorAll('*')).filter("
            "e => Array.from(e.attributes).some("
            "a => a.name.startsWith('on'))).length"
        )
    assert page.console_errors == []
    assert page.exceptions == []
    assert page.dialogs == []  # no planted alert() ran
    assert scripts == 0 and handlers == 0
    assert PLANTED in text  # shown as text, not executed
    assert "<img src=x onerror=alert(2)>" in text
    charts = [i for i in page.images if i["src"].startswith("data:image/png")]
    assert len(charts) == 2
    assert all(i["complete"] and i["width"] > 0 for i in page.images)
    assert page.screenshot.startswith(b"\x89PNG")
    (report_dir / "screenshot.png").write_bytes(page.screenshot)


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="needs poppler-utils")
def test_pdf_pages_and_charts(report_dir, tmp_path):
    pdf = report_dir / "report.pdf"
    info = subprocess.run(
        ["pdfinfo", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    pages = int(
        next(
            line for line in info.splitlines() if line.startswith("Pages:")
        ).split()[1]
    )
    assert 6 <= pages <= 30
    images = subprocess.run(
        ["pdfimages", "-list", str(pdf)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()[2:]
    assert images == []  # the charts are vector drawings, not pictures
    axis = "Seconds since load start"
    chart_pages = [
        page for page in range(1, pages + 1) if axis in _pdf_text(pdf, page)
    ]
    assert len(chart_pages) == 2
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == pages
    text = _pdf_text(pdf, chart_pages[0])
    assert "Kill flaky-service on one node" in text
    shutil.copy(rendered[chart_pages[0] - 1], report_dir / "chart-page.png")


def _pdf_text(pdf, page):
    return subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_rally_task_export_plugins(rally_results, tmp_path):
    workdir, _ = rally_results
    for kind, name in (("html", "study.html"), ("pdf", "study.pdf")):
        target = tmp_path / name
        done = subprocess.run(
            [
                str(RALLY),
                "task",
                "export",
                "--type",
                f"whitepaper-{kind}",
                "--to",
                str(target),
            ],
            env=rally_env(workdir),
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"Report written to {target}" in done.stdout
    html = (tmp_path / "study.html").read_text()
    assert html.count("data:image/png;base64,") == 2
    assert "&lt;script&gt;" in html
    assert (tmp_path / "study.pdf").read_bytes().startswith(b"%PDF")
