"""``rally-osic`` command line.

Each sub-command lives in its own module that exposes
``register(subparsers)``; the module is imported only to build the parser,
and its heavy dependencies only when the sub-command runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# (sub-command module, ...). A module listed here that is missing from the
# installed tree is skipped, so a partial install still gives a usable CLI.
SUBCOMMAND_MODULES = (
    "rally_osic.report.cli",
    "rally_osic.report.verdicts_cli",
    "rally_osic.faults.cli",
    "rally_osic.lab.cli",
)


class CommandError(Exception):
    """A user-facing error: printed as one line, exit code 1."""


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
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"rally-osic {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"rally-osic {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Under `python -m`, this module is __main__; the sub-commands raise
    # rally_osic.cli.CommandError, so run the main() of that module.
    from rally_osic import cli

    sys.exit(cli.main())
