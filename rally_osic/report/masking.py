"""The masking rules: secrets in configs (by key) and in free text.

:func:`mask` walks a config and masks the values of secret keys;
:func:`mask_text` finds secrets in free text (error messages, tracebacks,
SLA details, titles). The output layer (:mod:`rally_osic.output`) applies
:func:`mask_text` to every string on its way into any output.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "******"

# Words that make a config key (or a key inside text) secret.
_SECRET_WORDS = (
    r"pass(?:word|wd|phrase)|secret|token|private[_-]?key|api[_-]?key|"
    r"auth[_-]?key|access[_-]?key|credential|key[_-]?data|ssh[_-]?key|"
    r"cookie|session[_-]?id|mysql[_-]?pwd"
)
SECRET_KEY = re.compile(rf"{_SECRET_WORDS}|pass$|^key$", re.IGNORECASE)
PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
    r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.DOTALL,
)
# scheme://user:password@host. A password may hold "/", ":" and "@"
# (oslo.config takes them raw), so it runs to the last "@" of the URL:
# masking too much of a URL is better than leaking a piece of a password.
# Every pattern below starts at a literal or a short word and never
# backtracks far, so that a long hostile string costs linear time.
URL_PASSWORD = re.compile(
    r"(://[^\s:/@'\"<>]{0,256}+:)(?:[^\s'\"<>@]{0,512}+@)++"
)
# {"password": "x"}, {'X-Auth-Token': 'x'}, "token" => x, and the
# escaped form of a JSON string inside JSON ({\"password\": \"x\"}).
# An unquoted value never starts with a bracket, so that the items of a
# nested container are scanned as items of their own.
_KEY_HEAD = (
    r"(?P<head>(?P<q>\\?[\"'])(?P<key>[\w.\- ]{1,64}+)(?P=q)\s*+(?::|=>?)\s*+)"
)
QUOTED_KEY_VALUE = re.compile(
    _KEY_HEAD + r"(?P<value>\\\"(?:[^\\]|\\[^\"])*?\\\"|\"(?:[^\"\\]|\\.)*+\"|"
    r"'(?:[^'\\]|\\.)*+'|(?![\[{])[^\s,;}\]]++)"
)
# {"password": {...}} or "tokens": [...]: the whole container goes.
SECRET_CONTAINER = re.compile(_KEY_HEAD + r"(?=[\[{])")
# Quoted strings inside quoted strings, e.g. a JSON document held in a
# Python dict's value: {'unit': '{"password": "x"}'}.
NESTING_LIMIT = 4
# password=x, OS_PASSWORD="x", admin_token: x, X-Auth-Token: x (only the
# value is replaced, so the key's prefix need not be matched).
INLINE_SECRET = re.compile(
    rf"(?P<head>(?:{_SECRET_WORDS})\s*+[=:]\s*+)"
    r"(?P<value>\"[^\"]*+\"|'[^']*+'|[^\s\"',;&)}\]]++)",
    re.IGNORECASE,
)
# Authorization: Bearer x / Basic x / x; a bare "Bearer x" in a log.
AUTH_HEADER = re.compile(
    r"(authorization\s*+[=:]\s*+"
    r"(?:(?:bearer|basic|digest|negotiate|token|aws\S*)\s++)?)"
    r"([^\s'\",;]++)",
    re.IGNORECASE,
)
AUTH_SCHEME = re.compile(
    r"(\b(?:bearer|basic|digest|negotiate)\s++)(?!\*{6})"
    r"([A-Za-z0-9\-._~+/]++=*+)",
    re.IGNORECASE,
)
COOKIE_HEADER = re.compile(r"(cookie\s*+:\s*+)([^\r\n'\"]++)", re.IGNORECASE)
OPTION_SECRET = re.compile(
    r"(--(?:\w++-){0,4}+(?:password|passwd|token|secret)(?:=|\s++))(\S++)",
    re.IGNORECASE,
)
IDENTIFIED_BY = re.compile(
    r"(identified\s++by\s++)('[^']*+'|\"[^\"]*+\"|\S++)", re.IGNORECASE
)
# Keystone fernet tokens and JWTs are secrets wherever they stand.
BARE_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_\-])(?:gAAAAA[A-Za-z0-9_\-]{60,}+={0,2}|"
    r"eyJ[A-Za-z0-9_\-]{8,}+\.eyJ[A-Za-z0-9_\-]{8,}+\.[A-Za-z0-9_\-]++)"
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


def _unquote(value: str) -> tuple[str, str] | None:
    """(quote, text inside) of a quoted ``value``; None if it is bare."""
    for quote in ('\\"', '"', "'"):
        if (
            len(value) >= 2 * len(quote)
            and value.startswith(quote)
            and value.endswith(quote)
        ):
            return quote, value[len(quote) : -len(quote)]
    return None


def _quoted_value(match: re.Match, depth: int = 0) -> str:
    quoted = _unquote(match["value"])
    if SECRET_KEY.search(match["key"]):
        masked = MASK if quoted is None else f"{quoted[0]}{MASK}{quoted[0]}"
        return match["head"] + masked
    if quoted is None or not quoted[1] or depth >= NESTING_LIMIT:
        return match[0]
    # The value may hold key-value pairs of its own (a JSON document in a
    # Python dict's value).
    quote, inner = quoted
    inner = QUOTED_KEY_VALUE.sub(lambda m: _quoted_value(m, depth + 1), inner)
    return f"{match['head']}{quote}{inner}{quote}"


def _container_end(text: str, start: int, escaped_quotes: bool) -> int:
    """Index after the bracket that closes the one at ``start`` (brackets
    inside quotes do not count; in JSON held in a JSON string the quotes
    are ``\\"``); the end of ``text`` if none does."""
    depth, quote, index = 0, "", start
    while index < len(text):
        char = text[index]
        index += 1
        if char == "\\":
            char = text[index : index + 1]
            index += 1
            if not (escaped_quotes and char and char in "\"'"):
                continue  # an escaped character is neither quote nor bracket
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return index
    return len(text)


def _mask_containers(text: str) -> str:
    """Secret keys whose value is a list or a dict: the whole value. Each
    character is scanned once: keys inside a masked value are skipped."""
    pieces, done = [], 0
    for match in SECRET_CONTAINER.finditer(text):
        start = match.end()
        if start <= done or not SECRET_KEY.search(match["key"]):
            continue
        pieces += [text[done:start], MASK]
        done = _container_end(text, start, match["q"].startswith("\\"))
    return "".join(pieces) + text[done:] if pieces else text


def _inline_value(match: re.Match) -> str:
    value = match["value"]
    if value[0] in "\"'":
        return f"{match['head']}{value[0]}{MASK}{value[0]}"
    return match["head"] + MASK


def mask_text(text: str) -> str:
    """Secrets inside free text: key blocks, URL passwords, secret keys
    with their values (``k=v``, ``k: v``, quoted dict items), auth headers,
    command-line options, fernet tokens and JWTs."""
    if "PRIVATE KEY" in text:
        text = PRIVATE_KEY_BLOCK.sub(MASK, text)
    if "://" in text:
        text = URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)
    if "{" in text or "[" in text:
        text = _mask_containers(text)
    text = QUOTED_KEY_VALUE.sub(_quoted_value, text)
    text = INLINE_SECRET.sub(_inline_value, text)
    text = AUTH_HEADER.sub(rf"\g<1>{MASK}", text)
    text = AUTH_SCHEME.sub(rf"\g<1>{MASK}", text)
    text = COOKIE_HEADER.sub(rf"\g<1>{MASK}", text)
    if "--" in text:
        text = OPTION_SECRET.sub(rf"\g<1>{MASK}", text)
    text = IDENTIFIED_BY.sub(rf"\g<1>{MASK}", text)
    return BARE_TOKEN.sub(MASK, text)
