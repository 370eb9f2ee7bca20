"""Mask secrets in anything the report shows from results or configs."""

from __future__ import annotations

import re
from typing import Any

MASK = "******"
SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?$|secret|token|private[_-]?key|api[_-]?key|"
    r"auth[_-]?key|credential|key[_-]?data|^key$|ssh[_-]?key|cookie|"
    r"session[_-]?id",
    re.IGNORECASE,
)
PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----"
    r"|\Z)",
    re.DOTALL,
)
URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@\s/]+(@)")
INLINE_PASSWORD = re.compile(
    r"((?:password|passwd|secret|token|api[_-]?key)\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^\s,;&]+)",
    re.IGNORECASE,
)
OPTION_PASSWORD = re.compile(
    r"(--(?:os-)?(?:password|token|secret)[= ])(\S+)", re.IGNORECASE
)


def mask(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with secrets replaced by ``******``."""
    if key and SECRET_KEY.search(key) and value not in (None, "", [], {}):
        if isinstance(value, dict | list):
            return _mask_all(value)
        return MASK
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def _mask_all(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    return MASK


def mask_text(text: str) -> str:
    """Secrets inside free text: key blocks, URL and inline passwords."""
    if "PRIVATE KEY" in text:
        text = PRIVATE_KEY_BLOCK.sub(MASK, text)
    text = URL_PASSWORD.sub(rf"\g<1>{MASK}\g<2>", text)
    text = INLINE_PASSWORD.sub(rf"\g<1>{MASK}", text)
    text = OPTION_PASSWORD.sub(rf"\g<1>{MASK}", text)
    return text
