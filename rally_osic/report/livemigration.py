"""The live-migration section: host evacuations, per-migration downtime.

Expected results (what the live-migration scenario must produce):

* a workload whose scenario name contains ``live_migrat`` or ``evacuat``
  (any case), or whose iterations carry the table below;
* the scenario arguments ``storage`` (e.g. ``"shared"``, ``"local"``),
  ``tunnelled`` (bool) and ``flavor`` (e.g. ``"small"``), which name the
  table the workload belongs to; several workloads with the same three
  values are merged;
* one iteration per host evacuation, its ``duration`` being the time to
  evacuate the host, and in its ``output.complete`` a Rally ``Table``
  titled ``"Live migrations"``, one row per migrated VM::

      {"title": "Live migrations", "chart_plugin": "Table",
       "data": {"cols": ["vm", "success", "duration", "probe_downtime",
                         "libvirt_downtime", "tcp_bytes_lost",
                         "tcp_max_stall"],
                "rows": [["vm-1", true, 41.2, 0.094, 0.081, 0, 0.31]]}}

  Times are seconds; ``probe_downtime`` is the network probe's outage of
  that one migration, ``libvirt_downtime`` the hypervisor's figure
  (``jobStats`` ``downtime``), ``tcp_bytes_lost`` the bytes a TCP stream
  lost (0 means the stream continued), ``tcp_max_stall`` its longest stall.
  Missing cells may be ``null`` or ``"n/a"`` (a probe with nothing to
  reach); extra columns are ignored, except these of the package's
  ``OsicLiveMigration.evacuate_host`` (``rally_osic/probes/records.py``),
  which the per-run chart draws: ``ping_500ms_downtime`` (what a 500 ms
  ping would have reported) and ``libvirt_time_elapsed``. Without a
  ``tunnelled`` argument, the rows' ``transport`` column names the table
  (tunnelled: on; native and native_tls: off); without ``flavor``, the
  "Evacuation" table's ``flavor``.

See ``samples/live-migration.json``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from rally_osic.measure import stats

SCENARIO_PATTERN = re.compile(r"live_?migrat|evacuat", re.IGNORECASE)
TABLE_TITLE = "live migrations"
COLUMNS = (
    "vm",
    "success",
    "duration",
    "probe_downtime",
    "libvirt_downtime",
    "tcp_bytes_lost",
    "tcp_max_stall",
)


def _table(iteration: Mapping[str, Any]) -> Mapping[str, Any] | None:
    output = iteration.get("output")
    if not isinstance(output, Mapping):
        return None
    for item in _items(output.get("complete")):
        if (
            isinstance(item, Mapping)
            and str(item.get("title", "")).strip().lower() == TABLE_TITLE
            and isinstance(item.get("data"), Mapping)
        ):
            return item["data"]
    return None


def is_live_migration(workload: Mapping[str, Any]) -> bool:
    name = next(iter(workload.get("scenario") or {"": 0}))
    if SCENARIO_PATTERN.search(name):
        return True
    data = workload.get("data") or []
    return bool(data) and _table(data[0]) is not None


@dataclasses.dataclass
class Migration:
    success: bool
    duration: float | None
    probe_downtime: float | None
    libvirt_downtime: float | None
    tcp_bytes_lost: float | None
    tcp_max_stall: float | None
    ping_500ms_downtime: float | None = None
    libvirt_time_elapsed: float | None = None
    transport: str | None = None
    vm: str | None = None


@dataclasses.dataclass
class Evacuation:
    duration: float
    failed: bool
    migrations: list[Migration]


@dataclasses.dataclass
class LiveMigrationRun:
    """One workload's evacuations, with the table it belongs to."""

    storage: str
    tunnelled: str
    flavor: str
    task_uuid: str
    scenario: str
    evacuations: list[Evacuation]
    # Why Rally ran no iteration (a server that no host could take, say);
    # None when it ran some.
    not_run: str | None = None

    def chart_uri(self, vector: bool = False) -> str:
        """The run's chart as a data: URI (the HTML stays self-contained);
        SVG when ``vector``, for the PDF."""
        from rally_osic.report import lmcharts

        return lmcharts.data_uri(self, vector)


NATIVE_TLS = "off (native TLS)"
TUNNELLED_BY_TRANSPORT = {
    "tunnelled": True,
    "native": False,
    "native_tls": False,
}


def _evacuation_cell(iteration: Mapping[str, Any], column: str) -> Any:
    output = iteration.get("output")
    if not isinstance(output, Mapping):
        return None
    for item in output.get("complete") or []:
        if (
            isinstance(item, Mapping)
            and item.get("title") == "Evacuation"
            and isinstance(item.get("data"), Mapping)
        ):
            cols = list(item["data"].get("cols") or [])
            rows = item["data"].get("rows") or []
            if column in cols and rows:
                return rows[0][cols.index(column)]
    return None


def extract(workload: Mapping[str, Any], task_uuid: str) -> LiveMigrationRun:
    scenario, args = next(iter(workload["scenario"].items()))
    args = args if isinstance(args, Mapping) else {}
    tunnelled = args.get("tunnelled", args.get("tunneled"))
    flavor = args.get("flavor")
    evacuations = []
    for iteration in sorted(workload["data"], key=lambda i: i["timestamp"]):
        migrations = []
        table = _table(iteration)
        if table is not None:
            cols, rows = table.get("cols"), table.get("rows")
            columns = [str(c).lower() for c in _items(cols)]
            for row in _items(rows):
                if isinstance(row, list | tuple):
                    migrations.append(_migration(dict(zip(columns, row))))
        if flavor is None:
            flavor = _evacuation_cell(iteration, "flavor")
        evacuations.append(
            Evacuation(
                duration=float(iteration.get("duration") or 0.0),
                failed=bool(iteration.get("error")),
                migrations=migrations,
            )
        )
    transports = {m.transport for e in evacuations for m in e.migrations} - {
        None
    }
    if not transports:
        # No migration to read it from: the transport context's setting.
        contexts = workload.get("contexts") or {}
        setting = contexts.get("osic_migration_transport")
        if isinstance(setting, Mapping) and setting.get("transport") in (
            TUNNELLED_BY_TRANSPORT
        ):
            transports = {setting["transport"]}
    if tunnelled is None:
        used = {TUNNELLED_BY_TRANSPORT.get(t) for t in transports} - {None}
        if len(used) == 1:
            tunnelled = used.pop()
    label = (
        "unspecified" if tunnelled is None else ("on" if tunnelled else "off")
    )
    if transports == {"native_tls"}:
        # Not the study's "off": encrypted, so a table of its own.
        label = NATIVE_TLS
    return LiveMigrationRun(
        storage=str(args.get("storage", "unspecified")),
        tunnelled=label,
        flavor=str(flavor if flavor not in (None, "n/a") else "unspecified"),
        task_uuid=task_uuid,
        scenario=scenario,
        evacuations=evacuations,
        not_run=None if workload["data"] else _not_run_reason(workload),
    )


def _not_run_reason(workload: Mapping[str, Any]) -> str:
    from rally_osic.report.runs import not_run_reason

    sla_results = workload.get("sla_results") or {}
    if isinstance(sla_results, Mapping):
        sla_results = sla_results.get("sla") or []
    return not_run_reason([r for r in sla_results if isinstance(r, Mapping)])


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    """A finite number as float, else None (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _migration(cells: Mapping[str, Any]) -> Migration:
    success = cells.get("success")
    return Migration(
        success=bool(success) if success is not None else True,
        duration=_number(cells.get("duration")),
        probe_downtime=_number(cells.get("probe_downtime")),
        libvirt_downtime=_number(cells.get("libvirt_downtime")),
        tcp_bytes_lost=_number(cells.get("tcp_bytes_lost")),
        tcp_max_stall=_number(cells.get("tcp_max_stall")),
        ping_500ms_downtime=_number(cells.get("ping_500ms_downtime")),
        libvirt_time_elapsed=_number(cells.get("libvirt_time_elapsed")),
        transport=cells.get("transport")
        if isinstance(cells.get("transport"), str)
        else None,
        vm=str(cells["vm"]) if cells.get("vm") is not None else None,
    )


@dataclasses.dataclass
class Distribution:
    count: int
    median: float | None
    p95: float | None
    maximum: float | None

    @classmethod
    def of(cls, values: Iterable[float | None]) -> Distribution:
        present = [v for v in values if v is not None]
        if not present:
            return cls(0, None, None, None)
        return cls(
            len(present),
            stats.median(present),
            stats.percentile(present, 95),
            max(present),
        )


@dataclasses.dataclass
class LiveMigrationTable:
    storage: str
    tunnelled: str
    flavor: str
    runs: int
    evacuations: int
    failed_evacuations: int
    evacuation_mean: float | None  # seconds, successful evacuations
    migrations: int
    successful_migrations: int
    migration_duration: Distribution
    probe_downtime: Distribution
    libvirt_downtime: Distribution
    tcp_measured: int
    tcp_with_loss: int
    tcp_bytes_lost: float
    tcp_max_stall: Distribution
    ping_500ms_downtime: Distribution = dataclasses.field(
        default_factory=lambda: Distribution(0, None, None, None)
    )
    run_list: list[LiveMigrationRun] = dataclasses.field(default_factory=list)
    servers: list[ServerDowntime] = dataclasses.field(default_factory=list)
    study: StudyFigures | None = None

    @property
    def not_run(self) -> list[str]:
        """Rally's reasons, one per run it ran no iteration of."""
        return [run.not_run for run in self.run_list if run.not_run]

    @property
    def title(self) -> str:
        return (
            f"{self.storage.capitalize()} storage, tunnelling "
            f"{self.tunnelled}, {self.flavor} flavor"
        )


@dataclasses.dataclass(frozen=True)
class StudyFigures:
    """What the live-migration study printed for one configuration (the
    catalogue's ``study`` of an LM test)."""

    number: str
    successful: int | None
    migrations: int | None
    vm_downtimes: tuple[float, ...]  # seconds, one per VM, as printed
    minutes: float | None  # its "average duration of live migration"
    source: str

    @property
    def vm_downtime_total(self) -> float:
        return sum(self.vm_downtimes)


@dataclasses.dataclass(frozen=True)
class ServerDowntime:
    """One server's migrations in a table: what the probes saw, summed
    and at worst (the study printed one downtime per VM)."""

    vm: str
    migrations: int
    probe_total: float | None
    ping_500ms_total: float | None
    ping_500ms_worst: float | None


SIZES = ("small", "medium", "large")


def flavor_size(flavor: str) -> str | None:
    """The study's size a flavor name stands for: ``small`` itself, or a
    name ending in ``-small`` (``osic-lm-small``, ``lab-small``)."""
    for size in SIZES:
        if flavor == size or flavor.endswith("-" + size):
            return size
    return None


def study_figures(entries) -> dict[tuple[str, str, str], StudyFigures]:
    """(storage, tunnelling, size) -> the study's figures, from catalogue
    entries (``rally_osic.study.catalogue.Entry``) that have them."""
    found = {}
    for entry in entries:
        study = getattr(entry, "study", None) or {}
        if not study or not entry.in_study:
            continue
        args = entry.args
        tunnelled = TUNNELLED_BY_TRANSPORT.get(args.get("transport"))
        if tunnelled is None or args.get("flavor") not in SIZES:
            continue
        successful, migrations = None, None
        if study.get("success"):
            successful, migrations = map(int, study["success"].split("/"))
        key = (
            str(args.get("storage")),
            "on" if tunnelled else "off",
            args["flavor"],
        )
        found[key] = StudyFigures(
            number=entry.number,
            successful=successful,
            migrations=migrations,
            vm_downtimes=tuple(
                float(v) for v in study.get("vm_downtimes", ())
            ),
            minutes=entry.evacuation_minutes,
            source=str(study.get("source", "")),
        )
    return found


def per_server(migrations: Iterable[Migration]) -> list[ServerDowntime]:
    grouped: dict[str, list[Migration]] = {}
    for migration in migrations:
        if migration.vm is not None:
            grouped.setdefault(migration.vm, []).append(migration)

    def total(values):
        present = [v for v in values if v is not None]
        return sum(present) if present else None

    return [
        ServerDowntime(
            vm=vm,
            migrations=len(moved),
            probe_total=total(m.probe_downtime for m in moved),
            ping_500ms_total=total(m.ping_500ms_downtime for m in moved),
            ping_500ms_worst=max(
                (
                    m.ping_500ms_downtime
                    for m in moved
                    if m.ping_500ms_downtime is not None
                ),
                default=None,
            ),
        )
        for vm, moved in sorted(grouped.items())
    ]


def tables(
    runs: list[LiveMigrationRun],
    study: Mapping[tuple[str, str, str], StudyFigures] | None = None,
) -> list[LiveMigrationTable]:
    """One table per storage × tunnelling × flavor, in a stable order;
    with the study's figures where ``study`` has the same configuration
    (see :func:`study_figures`)."""
    grouped: dict[tuple[str, str, str], list[LiveMigrationRun]] = {}
    for run in runs:
        grouped.setdefault(
            (run.storage, run.tunnelled, run.flavor), []
        ).append(run)
    flavor_order = {"tiny": 0, "small": 1, "medium": 2, "large": 3}
    result = []
    for key in sorted(
        grouped,
        key=lambda k: (k[0], k[1] != "on", flavor_order.get(k[2], 9), k[2]),
    ):
        evacuations = [e for run in grouped[key] for e in run.evacuations]
        migrations = [m for e in evacuations for m in e.migrations]
        ok = [m for m in migrations if m.success]
        durations = [e.duration for e in evacuations if not e.failed]
        tcp = [m for m in ok if m.tcp_bytes_lost is not None]
        result.append(
            LiveMigrationTable(
                storage=key[0],
                tunnelled=key[1],
                flavor=key[2],
                runs=len(grouped[key]),
                evacuations=len(evacuations),
                failed_evacuations=sum(e.failed for e in evacuations),
                evacuation_mean=(
                    sum(durations) / len(durations) if durations else None
                ),
                migrations=len(migrations),
                successful_migrations=len(ok),
                migration_duration=Distribution.of(m.duration for m in ok),
                probe_downtime=Distribution.of(m.probe_downtime for m in ok),
                libvirt_downtime=Distribution.of(
                    m.libvirt_downtime for m in ok
                ),
                tcp_measured=len(tcp),
                tcp_with_loss=sum(1 for m in tcp if m.tcp_bytes_lost),
                tcp_bytes_lost=sum(m.tcp_bytes_lost for m in tcp),
                tcp_max_stall=Distribution.of(m.tcp_max_stall for m in ok),
                ping_500ms_downtime=Distribution.of(
                    m.ping_500ms_downtime for m in ok
                ),
                run_list=list(grouped[key]),
                servers=per_server(migrations),
                study=(study or {}).get(
                    (key[0], key[1], flavor_size(key[2]) or "")
                ),
            )
        )
    return result
