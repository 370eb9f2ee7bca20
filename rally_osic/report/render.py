"""Render a study: self-contained HTML, PDF (WeasyPrint) and JUnit XML.

Templates and CSS live in the top-level ``report/`` directory of the
source tree, reached through the ``rally_osic/report/assets`` symlink,
which a wheel turns into package data (see :func:`assets_dir`).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import pathlib
import tempfile
import xml.etree.ElementTree as ElementTree
from typing import Any

from rally_osic.report import commentary
from rally_osic.report.study import Study

TEMPLATE = "study.html.j2"


def assets_dir() -> pathlib.Path:
    """The templates and CSS: ``rally_osic/report/assets``.

    In the source tree that is a symlink to the top-level ``report/``; a
    wheel holds the files themselves (package data).
    """
    for candidate in (
        pathlib.Path(__file__).resolve().parent / "assets",
        pathlib.Path(__file__).resolve().parents[2] / "report",
    ):
        if (candidate / "templates" / TEMPLATE).is_file():
            return candidate
    raise FileNotFoundError(
        "report templates not found: rally_osic/report/assets/templates/"
        f"{TEMPLATE} is missing (is package data installed?)"
    )


def environment():
    import jinja2

    assets = assets_dir()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(assets / "templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = commentary.seconds
    env.filters["at"] = commentary.at
    env.filters["plural"] = commentary.plural
    env.filters["ms"] = _milliseconds
    env.filters["minutes"] = _minutes
    env.filters["as_json"] = lambda value: json.dumps(
        value, indent=2, sort_keys=True, default=str
    )
    env.globals["FINDINGS"] = commentary.FINDINGS
    env.globals["ERROR_TYPES"] = commentary.ERROR_TYPES
    env.globals["ANOMALIES"] = commentary.ANOMALIES
    return env


def _milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.0f} ms"


def _minutes(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 60:.1f} min ({value:.0f} s)"


def chart_uri(study: Study, run_key: str, charts: dict[str, bytes]) -> str:
    """A data: URI of the run's PNG chart (the HTML stays self-contained)."""
    content = charts.get("png") or b""
    if not content and study.chart_dir is not None:
        path = study.chart_dir / f"{run_key}.png"
        if path.is_file():
            content = path.read_bytes()
    if not content:
        return ""
    return "data:image/png;base64," + base64.b64encode(content).decode()


def render_html(
    study: Study, generated_at: str | None = None, for_pdf: bool = False
) -> str:
    env = environment()
    template = env.get_template(TEMPLATE)
    css = (assets_dir() / "static" / "study.css").read_text(encoding="utf-8")
    return template.render(
        study=study,
        css=css,
        for_pdf=for_pdf,
        chart_uri=lambda run: chart_uri(
            study, run.input.key, run.result.charts
        ),
        generated_at=generated_at
        or datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        paragraphs=_paragraphs,
    )


def _paragraphs(text: Any) -> list[str]:
    from rally_osic.report.outline import paragraphs

    return paragraphs(text)


def render_pdf(html: str) -> bytes:
    import logging

    import weasyprint

    # WeasyPrint logs every unsupported CSS property; they are harmless.
    for name in ("weasyprint", "weasyprint.progress"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    return weasyprint.HTML(string=html, base_url=None).write_pdf()


def junit_xml(study: Study) -> str:
    """JUnit XML of the fault verdicts: one case per run and criterion.

    The criteria are the workload's fault SLAs (``fault_*``), judged with
    the current method, exactly as the report's summary counts them; a
    run without any is judged on recovery with the defaults.
    """
    root = ElementTree.Element("testsuites", name="rally-osic fault study")
    total = failures = 0
    for test in study.tests:
        suite = ElementTree.SubElement(
            root,
            "testsuite",
            name=f"{test.number} {test.scenario}: {test.fault}",
        )
        suite_failures = 0
        for run in test.runs:
            for verdict in run.result.verdicts:
                name = f"run {run.number}: {verdict.criterion}"
                if not verdict.configured:
                    name += " (report default)"
                total += 1
                case = ElementTree.SubElement(
                    suite,
                    "testcase",
                    classname=f"{test.scenario}.{test.fault}",
                    name=name,
                    id=f"{run.input.workload_uuid}:{verdict.criterion}",
                    time=f"{run.result.load_seconds:.2f}",
                )
                detail = verdict.detail
                if verdict.stored is not None:
                    detail += (
                        f"\nRally's verdict at run time: {verdict.stored[1]}"
                    )
                if not verdict.success:
                    failures += 1
                    suite_failures += 1
                    failure = ElementTree.SubElement(
                        case, "failure", message=verdict.detail[:500]
                    )
                    failure.text = detail
                else:
                    ElementTree.SubElement(case, "system-out").text = detail
        suite.set("tests", str(len(suite)))
        suite.set("failures", str(suite_failures))
        suite.set("errors", "0")
    root.set("tests", str(total))
    root.set("failures", str(failures))
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)


def write_atomic(path: pathlib.Path, content: str | bytes) -> None:
    """Write via a temporary file in the same folder and rename it."""
    path = pathlib.Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent)
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
