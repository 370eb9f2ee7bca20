"""``rally-osic verdicts``: judge stored Rally results again.

A study at the study's timing takes days; when the method or a setting
changes, stored runs are judged again here instead of run again, and CI
can gate on stored results. The verdicts come from the same code path as
the SLA plugins and the report (:func:`rally_osic.report.runs.judge_run`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verdicts",
        help="judge the fault criteria of stored Rally results again",
        description="Judge every run of the given Rally JSON results with "
        "the current method and each workload's own fault SLA settings. "
        "One line per run and criterion; exit 0 when every verdict "
        "passes, 1 when one fails, 2 on bad input.",
    )
    parser.add_argument(
        "results",
        nargs="+",
        metavar="RESULTS",
        help="Rally JSON files, or folders of *.json files",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per line: test, run, criterion, success, "
        "detail, ...",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        dest="settings",
        help="override a setting of the fault criteria for every run, "
        "e.g. --set hold=15 --set recovery_margin=0.2 (VALUE is JSON; "
        "applied to each criterion that has the setting)",
    )
    parser.set_defaults(func=run)


class SettingError(ValueError):
    """A --set that no fault criterion accepts."""


def parse_settings(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs, each checked against the criteria's schemas."""
    import jsonschema

    from rally_osic.measure import schema

    known: dict[str, list[dict]] = {}
    for criterion in schema.CRITERIA:
        for key, prop in schema.properties(criterion).items():
            known.setdefault(key, []).append(prop)
    settings = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingError(f"--set {pair!r}: expected KEY=VALUE")
        if key not in known:
            raise SettingError(
                f"--set {key}: no fault criterion has this setting "
                f"(known: {', '.join(sorted(known))})"
            )
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        errors = []
        for prop in known[key]:
            try:
                jsonschema.validate(value, prop)
                break
            except jsonschema.ValidationError as exc:
                errors.append(exc.message)
        else:
            raise SettingError(f"--set {key}={text}: {errors[0]}")
        settings[key] = value
    return settings


def run(args: argparse.Namespace) -> int:
    from rally_osic.output import safe_line, safe_text
    from rally_osic.report import loader, study
    from rally_osic.report.errors import ReportInputError

    try:
        overrides = parse_settings(args.settings)
        paths = loader.expand_paths(args.results)
        workloads = (
            item for path in paths for item in loader.iter_workloads(path)
        )
        judged = study.build_study(
            workloads, chart_formats=(), workers=1, overrides=overrides
        )
    except (ReportInputError, SettingError) as exc:
        print(f"rally-osic verdicts: error: {safe_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    failed = False
    try:
        for line in lines(judged, args.json):
            # The output layer: masked, unsafe characters escaped (in a
            # JSON line, as JSON escapes), one line each.
            print(safe_text(line) if args.json else safe_line(line, 10_000))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (head, grep -q) has seen enough; the exit code still
        # tells the verdict.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    for test in judged.tests:
        for item in test.runs:
            failed |= not all(v.success for v in item.result.verdicts)
    return EXIT_FAIL if failed else EXIT_PASS


def lines(judged, as_json: bool):
    for test in judged.tests:
        name = f"{test.number} {test.scenario}: {test.fault}"
        for item in test.runs:
            for verdict in item.result.verdicts:
                if not as_json:
                    yield (
                        f"{name} run {item.number}: {verdict.criterion}: "
                        f"{verdict.detail}"
                    )
                    continue
                stored = None
                if verdict.stored is not None:
                    stored = {
                        "success": verdict.stored[0],
                        "detail": verdict.stored[1],
                    }
                yield json.dumps(
                    {
                        "test": name,
                        "number": test.number,
                        "scenario": test.scenario,
                        "fault": test.fault,
                        "run": item.number,
                        "workload": item.input.workload_uuid,
                        "source": item.input.source,
                        "criterion": verdict.criterion,
                        "success": verdict.success,
                        "detail": verdict.detail,
                        "configured": verdict.configured,
                        "rally_at_run_time": stored,
                        "findings": item.result.findings,
                    },
                    ensure_ascii=False,
                )
