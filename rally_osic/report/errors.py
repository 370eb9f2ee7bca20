"""Errors the reporter shows to its user as one line."""


class ReportInputError(Exception):
    """Bad input: the message names the file and what is wrong."""
