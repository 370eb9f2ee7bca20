"""``rally-osic`` command line.

Each sub-command lives in its own module that exposes
``register(subparsers)``; the module is imported only to build the parser,
and its heavy dependencies only when the sub-command runs. Sub-commands
raise :class:`rally_osic.errors.CommandError` for their user's mistakes;
this dispatcher prints it as one line, through the output layer.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from rally_osic import errors
from rally_osic.output import safe_line

# (sub-command module, ...). A module listed here that is missing from the
# installed tree is skipped, so a partial install still gives a usable CLI.
SUBCOMMAND_MODULES = (
    "rally_osic.report.cli",
    "rally_osic.report.verdicts_cli",
    "rally_osic.faults.cli",
    "rally_osic.lab.cli",
    "rally_osic.study.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rally-osic",
        description="Fault-injection and live-migration studies on Rally.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    errors.handle_termination()
    prefix = f"rally-osic {args.command}"
    try:
        return int(args.func(args) or 0)
    except errors.CommandError as exc:
        print(f"{prefix}: error: {safe_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # The file system or the network said no (a full disk, a folder
        # that is not writable...): the user's to fix, in one line.
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc) or type(exc).__name__
        print(f"{prefix}: error: {safe_line(where + reason)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except errors.Terminated as exc:
        print(f"{prefix}: stopped by {exc}", file=sys.stderr)
        return 128 + exc.signum


if __name__ == "__main__":
    sys.exit(main())
