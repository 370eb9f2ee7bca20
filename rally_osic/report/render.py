"""Render a study: self-contained HTML, PDF (WeasyPrint) and JUnit XML.

Templates and CSS live in the top-level ``report/`` directory of the
source tree, reached through the ``rally_osic/report/assets`` symlink,
which a wheel turns into package data (see :func:`assets_dir`).
"""

from __future__ import annotations

import base64
import datetime
import json
import pathlib
import xml.etree.ElementTree as ElementTree
from typing import Any

from rally_osic.output import safe_text
from rally_osic.report import commentary
from rally_osic.report.masking import mask
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
        # Every {{ expression }} goes through the output layer before it
        # is escaped: masked and with unsafe characters shown as escapes,
        # so that no field, however new, can forget it.
        finalize=_finalize,
    )
    env.filters["seconds"] = commentary.seconds
    env.filters["at"] = commentary.at
    env.filters["plural"] = commentary.plural
    env.filters["ms"] = _milliseconds
    env.filters["minutes"] = _minutes
    env.filters["as_json"] = lambda value: json.dumps(
        mask(value), indent=2, sort_keys=True, default=str
    )
    env.globals["mask"] = mask
    env.globals["FINDINGS"] = commentary.FINDINGS
    env.globals["ERROR_TYPES"] = commentary.ERROR_TYPES
    env.globals["ANOMALIES"] = commentary.ANOMALIES
    return env


def _finalize(value: Any) -> Any:
    """The output layer for the HTML (see :mod:`rally_osic.output`).
    Markup is the template's own (the CSS, chart data URIs)."""
    from markupsafe import Markup

    if isinstance(value, Markup) or value is None:
        return value
    if isinstance(value, bool | int | float):
        return value
    return safe_text(value)


def _milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.0f} ms"


def _minutes(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 60:.1f} min ({value:.0f} s)"


def chart_uri(
    study: Study, run_key: str, charts: dict[str, bytes], vector: bool = False
) -> str:
    """A data: URI of the run's chart (the HTML stays self-contained):
    the PNG, or the SVG when ``vector`` and it was drawn (for the PDF)."""
    for fmt, media in (("svg", "svg+xml"), ("png", "png"))[not vector :]:
        content = charts.get(fmt) or b""
        if not content and study.chart_dir is not None:
            path = study.chart_dir / f"{run_key}.{fmt}"
            if path.is_file():
                content = path.read_bytes()
        if content:
            from markupsafe import Markup

            # Base64 of our own chart: nothing from results, nothing to
            # mask (the SVG's texts were escaped by matplotlib).
            return Markup(
                f"data:image/{media};base64,"
                + base64.b64encode(content).decode()
            )
    return ""


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
            study, run.input.key, run.result.charts, vector=for_pdf
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
    for element in root.iter():  # the output layer, for every string
        if element.text:
            element.text = safe_text(element.text)
        for key, value in element.attrib.items():
            element.set(key, safe_text(value))
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)
