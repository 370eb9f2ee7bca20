"""The user's outline (prose merged into the study) and metadata file.

Outline (YAML or JSON)::

    title: "Service availability under faults"
    subtitle: "22-node OpenStack-Ansible cloud"
    authors: ["Ops team"]
    introduction: |
      Paragraphs of plain text; a blank line separates paragraphs.
    conclusion: |
      ...
    services:            # prose shown under a service's heading
      Keystone: "..."
    tests:               # prose shown in a test's section; keyed by
      "Authenticate.keystone: Kill memcached on one node": "..."
      "Kill memcached on one node": "..."   # the fault alone
      "1.2": "..."                           # or the test's number

Metadata (YAML or JSON): any mapping, shown in the Environment section
(secrets masked), e.g. ``cloud``, ``nodes``, ``release``, ``versions``.
"""

from __future__ import annotations

import pathlib
from typing import Any

from rally_osic.report.errors import ReportInputError

OUTLINE_TEXT_KEYS = ("title", "subtitle", "introduction", "conclusion")


def _read_mapping(path: str, what: str) -> dict[str, Any]:
    try:
        text = pathlib.Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportInputError(
            f"{path}: cannot read {what}: {exc.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise ReportInputError(f"{path}: {what} is not UTF-8 text") from None
    import yaml  # a dependency of the package (and of Rally)

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ReportInputError(
            f"{path}: {what} is not valid YAML{where}"
        ) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ReportInputError(f"{path}: {what} must be a mapping")
    return document


def load_outline(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    outline = _read_mapping(path, "outline")
    for key in OUTLINE_TEXT_KEYS:
        if key in outline and not isinstance(outline[key], str):
            raise ReportInputError(f"{path}: outline '{key}' must be text")
    for key in ("tests", "services"):
        value = outline.get(key)
        if value is not None and not isinstance(value, dict):
            raise ReportInputError(
                f"{path}: outline '{key}' must map names to text"
            )
        outline[key] = {str(k): str(v) for k, v in (value or {}).items()}
    authors = outline.get("authors")
    if isinstance(authors, str):
        outline["authors"] = [authors]
    return outline


def load_metadata(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    return _read_mapping(path, "metadata")


def paragraphs(text: str | None) -> list[str]:
    """Plain text split on blank lines (rendered escaped, one <p> each)."""
    if not text:
        return []
    blocks = [" ".join(b.split()) for b in str(text).split("\n\n")]
    return [b for b in blocks if b]
