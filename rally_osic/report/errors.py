"""Errors the reporter shows to its user as one line."""

from rally_osic.errors import CommandError


class ReportInputError(CommandError):
    """Bad input: the message names the file and what is wrong."""
