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


def ignore_termination() -> None:
    """For the worker processes of a pool: SIGINT, SIGTERM and SIGHUP sent
    to the whole process group (Ctrl-C, a service manager) are left to the
    parent, which stops its workers itself as it unwinds; a worker that
    died of the signal would instead break the pool mid-way."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
