"""``rally-osic study``: list, render and run the studies' tests."""

from __future__ import annotations

import json
import os
import sys

from rally_osic import errors
from rally_osic.errors import CommandError

ACTIONS = ("list", "render", "run")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "study",
        help="the studies' tests: list, render one, run a set",
        description="Every test of the OSIC service-availability study "
        "(1.1-9.1) and the live-migration matrix (LM.*), from the "
        "catalogue shipped with rally-osic.",
    )
    commands = parser.add_subparsers(dest="study_command", metavar="ACTION")
    listing = commands.add_parser("list", help="the catalogue's tests")
    _selection(listing)
    listing.add_argument("--json", action="store_true", help="JSON lines")
    listing.set_defaults(func=_list)

    render = commands.add_parser(
        "render", help="one test as a plain Rally task file"
    )
    render.add_argument("number", help="test number, e.g. 7.18")
    _task_args(render)
    render.add_argument("-o", "--output", metavar="FILE")
    render.set_defaults(func=_render)

    run = commands.add_parser(
        "run",
        help="run a set of tests, each K times, into a study folder",
        description="Runs the chosen tests with 'rally task start', "
        "writing each run's Rally JSON as soon as it finishes, then the "
        "report. Interrupted, it continues with --resume DIR.",
    )
    _selection(run)
    run.add_argument("--all", action="store_true", help="every test")
    run.add_argument("--env", help="Rally env to run against")
    run.add_argument("--out", metavar="DIR", help="a new study folder")
    run.add_argument(
        "--resume", metavar="DIR", help="continue the study in DIR"
    )
    run.add_argument(
        "--again",
        action="store_true",
        help="with --resume and a selection: run those tests of the study "
        "once more, with --task-args over the args they last ran with "
        "(their earlier runs are kept aside, in "
        "runs/NUMBER/superseded-STAMP/)",
    )
    run.add_argument(
        "--runs",
        type=int,
        metavar="K",
        help="runs per test (default: the "
        "study's own count where it gives one, else 1)",
    )
    _task_args(run)
    run.add_argument("--os-faults-config", metavar="FILE")
    run.add_argument(
        "--skip-unavailable",
        action="store_true",
        help="skip (and list) tests whose service the cloud's os-faults "
        "config lacks, instead of refusing the plan",
    )
    run.add_argument(
        "--keep-going",
        action="store_true",
        help="go on when a service stays down after a test",
    )
    run.add_argument(
        "--settle",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds the cloud may take to be healthy between runs (300)",
    )
    run.add_argument("--dry-run", action="store_true", help="print the plan")
    run.add_argument("--pdf", action="store_true", help="report.pdf too")
    run.add_argument(
        "--no-report", action="store_true", help="no report at the end"
    )
    run.set_defaults(func=_run)
    parser.set_defaults(func=lambda args: _help(parser))


def _help(parser) -> int:
    parser.print_help()
    return 2


def _selection(parser) -> None:
    parser.add_argument("numbers", nargs="*", metavar="NUMBER")
    parser.add_argument("--service", action="append", default=[])
    parser.add_argument("--action", action="append", default=[])
    parser.add_argument("--section", action="append", default=[])
    parser.add_argument(
        "--catalogue",
        metavar="FILE",
        help="another catalogue file (default: the package's)",
    )


def _task_args(parser) -> None:
    parser.add_argument(
        "--task-args", metavar="JSON", help="task args over the catalogue's"
    )
    parser.add_argument("--task-args-file", metavar="FILE")
    parser.add_argument(
        "--variant", help="a section's variant (4.*: original)"
    )


def parse_task_args(args) -> dict:
    if args.task_args and args.task_args_file:
        raise CommandError("give --task-args or --task-args-file, not both")
    text, where = args.task_args, "--task-args"
    if args.task_args_file:
        where = args.task_args_file
        with open(args.task_args_file, encoding="utf-8") as handle:
            text = handle.read()
    if not text:
        return {}
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        raise CommandError(f"{where}: not valid JSON or YAML") from None
    if not isinstance(value, dict):
        raise CommandError(f"{where}: task args must be a mapping")
    return value


def _catalogue(path):
    from rally_osic.study import catalogue

    return catalogue.load(path)


def _list(args) -> int:
    entries = _catalogue(args.catalogue).select(
        args.numbers, args.service, args.action, args.section
    )
    for entry in entries:
        if args.json:
            print(
                json.dumps(
                    {
                        "number": entry.number,
                        "title": entry.title,
                        "scenario": entry.args.get(
                            "scenario", entry.section_title
                        ),
                        "fault": entry.fault,
                        "runs": entry.runs,
                        "removed": entry.removed.reason()
                        if entry.removed
                        else None,
                    }
                )
            )
            continue
        note = f"  [{entry.removed.reason()}]" if entry.removed else ""
        runs = f" ×{entry.runs}" if entry.runs > 1 else ""
        print(
            f"{entry.number:6} {entry.section_title}: {entry.title}"
            f"{runs}{note}"
        )
    return 0


def _render(args) -> int:
    from rally_osic.files import write_atomic
    from rally_osic.study import catalogue, render

    entry = _catalogue(None).get(args.number)
    text = render.render(
        entry,
        catalogue.task_args(entry, parse_task_args(args), args.variant),
    ).lstrip("\n")
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _run(args) -> int:
    from rally_osic.study import folder as fo
    from rally_osic.study import runner

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    selected = (
        args.numbers or args.all or args.service or args.action or args.section
    )
    if args.again and not (args.resume and selected):
        raise CommandError(
            "--again needs --resume DIR and the tests to run again "
            "(NUMBER..., --section, --service, --action or --all)"
        )
    if args.resume:
        if (
            args.out
            or args.variant
            or (
                not args.again
                and (selected or args.task_args or args.task_args_file)
            )
        ):
            raise CommandError(
                "--resume continues a study as planned: give no selection, "
                "--out or --task-args with it (but with --again)"
            )
        folder = fo.StudyFolder(args.resume)
        plan = folder.load()
        if args.env and args.env != plan.env:
            raise CommandError(
                f"the study in {args.resume} runs against env {plan.env!r}"
            )
        catalogue = _catalogue(plan.catalogue)
        if args.again:
            _again(args, folder, plan, catalogue, say)
    else:
        if not args.env or not (args.out or args.dry_run):
            raise CommandError(
                "study run needs --env and --out (or --resume DIR)"
            )
        catalogue = _catalogue(args.catalogue)
        plan = _plan(args, catalogue)
        folder = fo.StudyFolder(args.out or ".")
    options = runner.Options(
        keep_going=args.keep_going,
        settle=args.settle,
        os_faults_config=args.os_faults_config,
        pdf=args.pdf,
        report=not args.no_report,
    )
    if args.dry_run:
        _print_plan(plan, catalogue, say)
        return 0
    rally = runner.Rally()
    if not args.resume:
        _check_services(plan, catalogue, rally, options, args)
        folder.create(plan)
        say(
            f"study folder {folder.path}: continue an interrupted study "
            f"with: rally-osic study run --resume {folder.path}"
        )
    try:
        counts = runner.run_plan(folder, plan, catalogue, rally, options, say)
    except (KeyboardInterrupt, errors.Terminated, Exception) as exc:
        if not isinstance(exc, CommandError):
            say(
                f"stopped: finished runs are in {folder.path}; continue "
                f"with: rally-osic study run --resume {folder.path}"
            )
        raise
    outline = runner.write_outline(folder, plan, catalogue)
    say(
        f"{counts['finished']} runs finished, {counts['failed']} failed "
        f"(Rally could not finish them), {len(plan.skipped)} tests skipped"
    )
    if options.report:
        code = runner.report(folder, outline, options.pdf)
        if code:
            raise CommandError(f"the report of {folder.path} failed")
        say(f"report: {folder.path / 'report' / 'report.html'}")
    return 1 if counts["failed"] else 0


def _again(args, folder, plan, catalogue, say) -> None:
    """Plan the chosen tests of the study to run again (see --again)."""
    chosen = {
        entry.number
        for entry in catalogue.select(
            args.numbers, args.service, args.action, args.section
        )
    }
    numbers = [t.number for t in plan.tests if t.number in chosen]
    if not numbers:
        raise CommandError(
            f"no test of the study in {folder.path} matches that selection"
        )
    task_args = parse_task_args(args)
    if "section_args" in task_args:
        raise CommandError(
            "--again takes task args for the chosen tests: choose them with "
            "--section instead of section_args"
        )
    if args.dry_run:
        plan.run_again(numbers, task_args)
        return
    aside = folder.again(plan, numbers, task_args)
    say(
        f"running again: {', '.join(numbers)}; their earlier runs are kept "
        f"in {folder.path}/runs/NUMBER/{aside}/"
    )


def _plan(args, catalogue):
    from rally_osic.study import folder as fo

    if not (
        args.numbers or args.all or args.service or args.action or args.section
    ):
        raise CommandError(
            "choose tests: NUMBER..., --service, --action, --section or --all"
        )
    if args.runs is not None and args.runs < 1:
        raise CommandError("--runs must be 1 or more")
    entries = catalogue.select(
        args.numbers, args.service, args.action, args.section
    )
    if not entries:
        raise CommandError("no catalogue test matches that selection")
    task_args = parse_task_args(args)
    if args.variant and not any(args.variant in e.variants for e in entries):
        raise CommandError(f"no chosen test has a variant {args.variant!r}")
    tests, skipped = [], []
    for entry in entries:
        if entry.removed:
            skipped.append(_skip(entry, entry.removed.reason()))
            continue
        tests.append(fo.PlannedTest(entry.number, args.runs or entry.runs))
    return fo.Plan(
        env=args.env,
        tests=tests,
        task_args=task_args,
        variant=args.variant,
        catalogue=os.path.abspath(args.catalogue) if args.catalogue else None,
        skipped=skipped,
    )


def _skip(entry, reason: str) -> dict:
    return {"number": entry.number, "title": entry.title, "reason": reason}


def _check_services(plan, catalogue, rally, options, args) -> None:
    """Every fault of the plan must name a service of the cloud's
    os-faults config (and a reboot needs power management)."""
    from rally_osic.study import runner

    config = runner.os_faults_config_of(rally, plan.env, options)
    if config is None:
        raise CommandError(
            f"no os-faults config for env {plan.env!r}: give "
            "--os-faults-config, or store one in the env's extras "
            "(os_faults_config)"
        )
    services = set(config.get("services") or {})
    kept = []
    for test in plan.tests:
        entry = catalogue.get(test.number)
        reason = unavailable(entry, config, services)
        if reason is None:
            kept.append(test)
        elif args.skip_unavailable:
            plan.skipped.append(_skip(entry, reason))
        else:
            raise CommandError(
                f"test {entry.number}: {reason} (--skip-unavailable skips "
                "such tests)"
            )
    plan.tests = kept


def unavailable(entry, config: dict, services: set) -> str | None:
    fault = entry.fault or {}
    service = fault.get("service")
    if fault.get("node_action") in ("reboot", "poweroff", "poweron", "reset"):
        if not config.get("power_managements") and not config.get(
            "power_management"
        ):
            return (
                "a node reboot needs power management (IPMI, libvirt) "
                "in the os-faults config"
            )
    if service and service not in services:
        return f"the cloud's os-faults config has no service {service!r}"
    return None


def _print_plan(plan, catalogue, say) -> None:
    from rally_osic.study import catalogue as cat
    from rally_osic.study import runner

    total = 0.0
    for test in plan.tests:
        entry = catalogue.get(test.number)
        args = runner.planned_args(entry, plan)
        seconds = cat.estimated_seconds(entry, args)
        total += seconds * test.runs
        print(
            f"{entry.number:6} ×{test.runs}  ~{runner.clock(seconds)} "
            f"each  {entry.section_title}: {entry.title}"
        )
    for skipped in plan.skipped:
        print(f"{skipped['number']:6} skipped: {skipped['reason']}")
    runs = sum(t.runs for t in plan.tests)
    print(
        f"{len(plan.tests)} tests, {runs} runs, about "
        f"{runner.clock(total)} of load and setup (one run at a time)."
    )
    if total > 86400:
        print(
            "At the study's own timing this is days of running on a "
            "real cloud: --task-args can shorten the baseline and tail."
        )
