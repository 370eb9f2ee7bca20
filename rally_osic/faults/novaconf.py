"""Nova's ``[libvirt]`` live-migration options: validation and editing.
Pure: no I/O.

:func:`settings` turns the transport toggle's choice (``native``,
``tunnelled`` or ``native_tls``: Nova deprecates tunnelling in favour of
native TLS, and refuses both at once) and the other options into the
``[libvirt]`` values Nova reads, after checking them as Nova's own option
definitions would (types, minimums, choices), so that a value Nova would
reject is a one-line error before any file is touched.

:func:`apply` sets those values in the text of a nova.conf, changing
only the lines it sets (comments and every other option stay), and
:func:`read` parses them back: the effective values the scenario
records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SECTION = "libvirt"
TRANSPORTS = {
    "native": {
        "live_migration_tunnelled": False,
        "live_migration_with_native_tls": False,
    },
    "tunnelled": {
        "live_migration_tunnelled": True,
        "live_migration_with_native_tls": False,
    },
    "native_tls": {
        "live_migration_tunnelled": False,
        "live_migration_with_native_tls": True,
    },
}
# The toggle's option names -> (nova option, kind, minimum or choices),
# after nova/conf/libvirt.py (Nova 2023.1 .. 2025.2).
OPTIONS = {
    "permit_auto_converge": ("live_migration_permit_auto_converge", "bool"),
    "permit_post_copy": ("live_migration_permit_post_copy", "bool"),
    "completion_timeout": ("live_migration_completion_timeout", "int", 0),
    "timeout_action": (
        "live_migration_timeout_action",
        "choice",
        ("abort", "force_complete"),
    ),
    "downtime": ("live_migration_downtime", "int", 100),
    "downtime_steps": ("live_migration_downtime_steps", "int", 3),
    "downtime_delay": ("live_migration_downtime_delay", "int", 3),
    "bandwidth": ("live_migration_bandwidth", "int", 0),
    "inbound_addr": ("live_migration_inbound_addr", "str"),
    "scheme": ("live_migration_scheme", "str"),
}
ALL_NOVA_OPTIONS = tuple(
    sorted(
        {name for values in TRANSPORTS.values() for name in values}
        | {spec[0] for spec in OPTIONS.values()}
    )
)


class NovaConfError(ValueError):
    """A value Nova would reject (one line)."""


def _check(name: str, spec: tuple, value: Any) -> str:
    nova_name, kind = spec[0], spec[1]
    where = f"{name} ({SECTION}.{nova_name})"
    if kind == "bool":
        if not isinstance(value, bool):
            raise NovaConfError(f"{where} must be true or false: {value!r}")
        return "true" if value else "false"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise NovaConfError(f"{where} must be an integer: {value!r}")
        if value < spec[2]:
            raise NovaConfError(
                f"{where} = {value}: Nova's minimum is {spec[2]}"
            )
        return str(value)
    if kind == "choice":
        if value not in spec[2]:
            raise NovaConfError(
                f"{where} = {value!r}: Nova accepts " + ", ".join(spec[2])
            )
        return str(value)
    if not isinstance(value, str) or not value or "\n" in value:
        raise NovaConfError(f"{where} must be a one-line string: {value!r}")
    return value


def settings(
    transport: str | None, options: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The ``[libvirt]`` values to write, checked as Nova would."""
    values: dict[str, str] = {}
    if transport is not None:
        if transport not in TRANSPORTS:
            raise NovaConfError(
                f"transport {transport!r}: choose "
                + ", ".join(sorted(TRANSPORTS))
            )
        for name, flag in TRANSPORTS[transport].items():
            values[name] = "true" if flag else "false"
    for name, value in (options or {}).items():
        if name not in OPTIONS:
            raise NovaConfError(
                f"unknown live-migration option {name!r}; known: "
                + ", ".join(sorted(OPTIONS))
            )
        values[OPTIONS[name][0]] = _check(name, OPTIONS[name], value)
    if values.get("live_migration_permit_post_copy") == "true" and (
        values.get("live_migration_tunnelled") == "true"
    ):
        # libvirt refuses VIR_MIGRATE_TUNNELLED|VIR_MIGRATE_POSTCOPY.
        raise NovaConfError(
            "permit_post_copy cannot be used with the tunnelled transport "
            "(libvirt refuses post-copy through a tunnel)"
        )
    return values


_SECTION_RE = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_OPTION_RE = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*[=:]\s*(.*?)\s*$")


def apply(text: str, values: Mapping[str, str]) -> str:
    """``text`` with ``[libvirt]`` ``values`` set (added or replaced)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    pending = dict(values)
    out: list[str] = []
    section = None
    libvirt_end = None
    for line in lines:
        match = _SECTION_RE.match(line)
        if match:
            if section == SECTION:
                libvirt_end = len(out)
            section = match.group(1).strip()
            out.append(line)
            continue
        option = _OPTION_RE.match(line)
        if (
            section == SECTION
            and option
            and not line.lstrip().startswith(("#", ";"))
        ):
            name = option.group(1)
            if name in values:
                if name in pending:
                    out.append(f"{name} = {pending.pop(name)}\n")
                continue  # a repeated line of an option we set: dropped
        out.append(line)
    if section == SECTION:
        libvirt_end = len(out)
    added = [f"{name} = {value}\n" for name, value in pending.items()]
    if not added:
        return "".join(out)
    if libvirt_end is None:
        if out and out[-1].strip():
            out.append("\n")
        out.append(f"[{SECTION}]\n")
        out.extend(added)
    else:
        while libvirt_end > 0 and not out[libvirt_end - 1].strip():
            libvirt_end -= 1
        out[libvirt_end:libvirt_end] = added
    return "".join(out)


def read(text: str) -> dict[str, str]:
    """The live-migration options set in ``[libvirt]`` (last one wins)."""
    found: dict[str, str] = {}
    section = None
    for line in text.splitlines():
        match = _SECTION_RE.match(line)
        if match:
            section = match.group(1).strip()
            continue
        if section != SECTION or line.lstrip().startswith(("#", ";")):
            continue
        option = _OPTION_RE.match(line)
        if option and option.group(1) in ALL_NOVA_OPTIONS:
            found[option.group(1)] = option.group(2)
    return found


def transport_of(values: Mapping[str, str]) -> str:
    """The transport that ``[libvirt]`` values select (Nova's defaults:
    both false, i.e. native)."""

    def true(name: str) -> bool:
        return values.get(name, "false").strip().lower() in (
            "true",
            "1",
            "yes",
            "on",
        )

    if true("live_migration_with_native_tls"):
        return "native_tls"
    if true("live_migration_tunnelled"):
        return "tunnelled"
    return "native"
