"""One row per migration, from the three probes' records. Pure.

The row is the contract between the evacuation scenario (and the rig)
and the reporter (``rally_osic/report/livemigration.py``): the Rally
``Table`` titled "Live migrations" has the columns :data:`COLUMNS`, in
that order. Times are seconds, sizes bytes, the dirty rate bytes/s. A
probe that did not run, or had nothing to reach, gives ``"n/a"`` (never
0: a zero would claim a measured outage-free migration).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rally_osic.probes import outages as ot

NA = "n/a"
TABLE_TITLE = "Live migrations"
COLUMNS = (
    "vm",
    "direction",
    "source",
    "target",
    "success",
    "error",
    "migration_status",
    "duration",
    "libvirt_time_elapsed",
    "libvirt_downtime",
    "libvirt_downtime_net",
    "data_transferred",
    "memory_iterations",
    "dirty_rate",
    "probe_downtime",
    "probe_max_outage",
    "probe_outages",
    "probe_interval",
    "ping_500ms_downtime",
    "tcp_bytes_lost",
    "tcp_bytes_reordered",
    "tcp_bytes_duplicated",
    "tcp_max_stall",
    "tcp_reconnects",
    "transport",
    "block_migration",
    "started_after",
    "detected_after",
)


def _value(value: Any, digits: int = 6) -> Any:
    if value is None:
        return NA
    if isinstance(value, float):
        return round(value, digits)
    return value


def udp_cells(udp: Mapping[str, Any] | None) -> dict[str, Any]:
    """The network probe's cells; ``n/a`` if it never got an answer."""
    if not udp or not udp.get("answered"):
        return {}
    summary = ot.summarize(udp)
    return {
        "probe_downtime": summary.downtime,
        "probe_max_outage": max(
            (o.duration for o in summary.outages), default=0.0
        ),
        "probe_outages": len(summary.outages),
        "probe_interval": summary.interval,
        "ping_500ms_downtime": summary.ping_500ms.downtime,
    }


def tcp_cells(tcp: Mapping[str, Any] | None) -> dict[str, Any]:
    """The TCP stream's cells; ``n/a`` if no byte ever came back."""
    if not tcp or not tcp.get("received"):
        return {}
    return {
        "tcp_bytes_lost": tcp["lost_bytes"],
        "tcp_bytes_reordered": tcp["reordered_bytes"],
        "tcp_bytes_duplicated": tcp["duplicated_bytes"],
        "tcp_max_stall": tcp["max_stall"],
        "tcp_reconnects": tcp["reconnects"],
    }


def libvirt_cells(job: Mapping[str, Any] | None) -> dict[str, Any]:
    if not job or "time_elapsed" not in job:
        return {}
    return {
        "libvirt_time_elapsed": job.get("time_elapsed"),
        "libvirt_downtime": job.get("downtime"),
        "libvirt_downtime_net": job.get("downtime_net"),
        "data_transferred": job.get("data_processed"),
        "memory_iterations": job.get("memory_iterations"),
        "dirty_rate": job.get("dirty_rate"),
    }


def migration_row(
    *,
    vm: str,
    direction: str,
    source: str | None,
    target: str | None,
    success: bool,
    error: str | None,
    duration: float | None,
    transport: str | None,
    block_migration: bool | None,
    libvirt: Mapping[str, Any] | None = None,
    udp: Mapping[str, Any] | None = None,
    tcp: Mapping[str, Any] | None = None,
    started_after: float | None = None,
    detected_after: float | None = None,
    migration_status: str | None = None,
) -> dict[str, Any]:
    cells: dict[str, Any] = {
        "vm": vm,
        "direction": direction,
        "source": source,
        "target": target,
        "success": bool(success),
        "error": error or "",
        "migration_status": migration_status,
        "duration": duration,
        "transport": transport,
        "block_migration": block_migration,
        "started_after": started_after,
        "detected_after": detected_after,
    }
    cells.update(libvirt_cells(libvirt))
    cells.update(udp_cells(udp))
    cells.update(tcp_cells(tcp))
    return {column: _value(cells.get(column)) for column in COLUMNS}


def table(rows: Iterable[Mapping[str, Any]]) -> dict:
    """The Rally ``complete`` output item of one evacuation."""
    return {
        "title": TABLE_TITLE,
        "chart_plugin": "Table",
        "data": {
            "cols": list(COLUMNS),
            "rows": [[row[c] for c in COLUMNS] for row in rows],
        },
    }


def success_rate(rows: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    rows = list(rows)
    return sum(1 for row in rows if row["success"] is True), len(rows)
