"""``rally-osic report``: Rally JSON results to the whitepaper study."""

from __future__ import annotations

import argparse
import sys
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
        help="refuse workloads without a fault (otherwise shown as "
        "baseline-only runs), and exit 3 when a test failed (after writing "
        "the report)",
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
    from rally_osic.report import loader, outdir, outline, render, study

    paths = loader.expand_paths(args.results)
    outline_doc = outline.load_outline(args.outline)
    metadata = outline.load_metadata(args.metadata)
    formats = ("png", "svg") if args.svg else ("png",)
    with outdir.OutputFolder(args.output, CHARTS_DIR) as folder:
        workloads = (
            item for path in paths for item in loader.iter_workloads(path)
        )
        result = study.build_study(
            workloads,
            outline=outline_doc,
            metadata=metadata,
            env_info=metadata.get("rally_env") if metadata else None,
            chart_dir=folder.staged_charts,
            chart_formats=formats,
            vector_charts=args.pdf,
            workers=args.workers or None,
            progress=ProgressBar("Rendering charts", not args.quiet),
            strict=args.strict,
        )
        files: dict[str, str | bytes] = {HTML_NAME: render.render_html(result)}
        if args.pdf:
            if not args.quiet and sys.stderr.isatty():
                sys.stderr.write("Writing PDF...\n")
            files[PDF_NAME] = render.render_pdf(
                render.render_html(result, for_pdf=True)
            )
        files[JUNIT_NAME] = render.junit_xml(result)
        folder.commit(files)
    if not args.quiet:
        print(
            f"{args.output}: {', '.join(files)} and {len(result.runs)} "
            f"charts ({result.tests_passed}/{len(result.tests)} tests passed)"
        )
    if args.strict and result.tests_passed < len(result.tests):
        return 3
    return 0
