"""``rally-osic report``: Rally JSON results to the whitepaper study."""

from __future__ import annotations

import argparse
import pathlib
import shutil
import sys
import tempfile
import time

HTML_NAME = "report.html"
PDF_NAME = "report.pdf"
JUNIT_NAME = "fault-verdicts.xml"
CHARTS_DIR = "charts"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the fault study (HTML, PDF, JUnit) from Rally JSON",
        description="Turn Rally JSON results (rally task report --json, or "
        "the older rally task results) into a self-contained HTML study "
        "with one annotated chart per run, optionally a PDF, and a JUnit "
        "XML of the fault verdicts.",
    )
    parser.add_argument(
        "results",
        nargs="+",
        metavar="RESULTS",
        help="Rally JSON files, or folders of *.json files",
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="output folder"
    )
    parser.add_argument(
        "--pdf", action="store_true", help="also write report.pdf"
    )
    parser.add_argument(
        "--outline", metavar="FILE", help="YAML outline: title, prose"
    )
    parser.add_argument(
        "--metadata", metavar="FILE", help="YAML environment metadata"
    )
    parser.add_argument(
        "--svg",
        action="store_true",
        help="also write each chart as SVG into DIR/charts (PNG charts "
        "are always written and inlined in the HTML)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="chart-rendering processes (default: up to 2, one per core)",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 3 when a test failed (after writing the report)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar"
    )
    parser.set_defaults(func=run)


class ProgressBar:
    """A one-line progress bar on stderr, drawn only on a terminal."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 1:
            return
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = int(width * done / total)
        sys.stderr.write(
            f"\r{self.label} [{'#' * filled}{' ' * (width - filled)}] "
            f"{done}/{total}"
        )
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    return generate(args)


def generate(args: argparse.Namespace) -> int:
    from rally_osic.report import loader, outline, render, study

    paths = loader.expand_paths(args.results)
    outline_doc = outline.load_outline(args.outline)
    metadata = outline.load_metadata(args.metadata)
    output = pathlib.Path(args.output)
    created = not output.exists()
    output.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".report-", dir=output))
    charts = staging / CHARTS_DIR
    charts.mkdir()
    formats = ("png", "svg") if args.svg else ("png",)
    try:
        workloads = (
            item for path in paths for item in loader.iter_workloads(path)
        )
        result = study.build_study(
            workloads,
            outline=outline_doc,
            metadata=metadata,
            env_info=metadata.get("rally_env") if metadata else None,
            chart_dir=charts,
            chart_formats=formats,
            workers=args.workers or None,
            progress=ProgressBar("Rendering charts", not args.quiet),
        )
        html = render.render_html(result)
        pdf = None
        if args.pdf:
            if not args.quiet and sys.stderr.isatty():
                sys.stderr.write("Writing PDF...\n")
            pdf = render.render_pdf(render.render_html(result, for_pdf=True))
        junit = render.junit_xml(result)
        _replace_dir(charts, output / CHARTS_DIR)
        render.write_atomic(output / HTML_NAME, html)
        if pdf is not None:
            render.write_atomic(output / PDF_NAME, pdf)
        render.write_atomic(output / JUNIT_NAME, junit)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(output, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    written = [HTML_NAME] + ([PDF_NAME] if args.pdf else []) + [JUNIT_NAME]
    if not args.quiet:
        print(
            f"{output}: {', '.join(written)} and {len(result.runs)} charts "
            f"({result.tests_passed}/{len(result.tests)} tests passed)"
        )
    if args.strict and result.tests_passed < len(result.tests):
        return 3
    return 0


def _replace_dir(new: pathlib.Path, target: pathlib.Path) -> None:
    """Put ``new`` in place of ``target`` with renames only."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    new.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
