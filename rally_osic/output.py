"""The output layer: what every string from results goes through on its
way into any output (HTML, PDF, JUnit XML, chart PNG and SVG, the
terminal).

:func:`safe_text` masks secrets (:mod:`rally_osic.report.masking`) and
shows characters that no output can hold, or that would mislead its
reader, as visible escapes: C0 and C1 control characters other than tab
and newline, bidirectional overrides and isolates (a U+202E can make
``exe.txt`` read as ``txt.exe``), lone surrogates and the noncharacters
U+FFFE and U+FFFF. What is left is valid XML 1.0 text and draws as
itself. :func:`safe_line` also makes it one bounded line for a terminal.
"""

from __future__ import annotations

import re
from typing import Any

from rally_osic.report.masking import mask_text

UNSAFE_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u202a-\u202e"
    "\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
LINE_LIMIT = 1000  # characters of one terminal line


def _escape(match: re.Match) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_chars(text: str) -> str:
    """``text`` with unsafe characters shown as ``\\x1b``, ``\\u202e``..."""
    return UNSAFE_CHARS.sub(_escape, text)


def safe_text(value: Any) -> str:
    """``value`` as text that may go into any output: masked, and with
    unsafe characters escaped. Idempotent."""
    text = value if isinstance(value, str) else str(value)
    return clean_chars(mask_text(text))


def safe_line(value: Any, limit: int = LINE_LIMIT) -> str:
    """:func:`safe_text` as one line of at most ``limit`` characters, for
    a terminal: lines joined with " | ", tabs and carriage returns as
    spaces."""
    text = safe_text(value)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    text = " | ".join(line for line in lines if line)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


# Characters of a result string where it is displayed: a title (task,
# scenario, fault) in headings, tables and chart titles; an error type or
# message in the errors table; a description or an SLA detail. Whole
# strings (up to the loader's bound) stay in the HTML's details and in the
# results file; unbreakable text this long still lays out fast in the PDF.
TITLE_LIMIT = 200
ERROR_TYPE_LIMIT = 120
ERROR_MESSAGE_LIMIT = 300
TEXT_LIMIT = 2000


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
