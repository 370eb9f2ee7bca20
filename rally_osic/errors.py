"""User-facing errors of the ``rally-osic`` commands, in one place.

A sub-command raises :class:`CommandError` (or a subclass, such as the
reporter's ``ReportInputError``) for anything its user can fix: bad input,
an unreachable node, a wrong config. The dispatcher (:mod:`rally_osic.cli`)
prints it as one masked line and exits with its ``exit_code``; it never
prints a traceback for one.
"""

from __future__ import annotations

import signal


class CommandError(Exception):
    """A user-facing error: printed as one line, exit code ``exit_code``."""

    exit_code = 1


class Terminated(BaseException):
    """The process got SIGTERM or SIGHUP.

    Raised from the signal handler so that every ``finally`` and
    ``except BaseException`` on the way out runs: temporary files and
    staging folders are removed as they are on Ctrl-C. Like
    KeyboardInterrupt, it is not an Exception, so no ``except Exception``
    swallows it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_terminated(signum, _frame) -> None:
    raise Terminated(signum)


def handle_termination() -> None:
    """Turn SIGTERM and SIGHUP into :class:`Terminated` in this process."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_terminated)


def default_termination() -> None:
    """Back to the default action (for worker processes of a pool, which
    the parent stops itself)."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
