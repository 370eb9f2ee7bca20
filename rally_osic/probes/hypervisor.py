"""libvirt's view of a live migration, with libvirt-python.

* :class:`Hypervisors` opens (and caches) connections from a URI
  template such as ``qemu+ssh://root@{host}/system`` or
  ``qemu+tcp://{host}/system``; ``{host}`` is the compute's hypervisor
  host name (or whatever the caller maps it to).
* :class:`MigrationMonitor` watches one domain from its source to its
  target: it listens for the source's JOB_COMPLETED event, reads the
  completed job statistics on the target afterwards
  (``jobStats(VIR_DOMAIN_JOB_STATS_COMPLETED)``; the source loses them
  when it undefines the domain), notes which disks the source mirrored
  to the target (block migration: libvirt's job statistics leave
  ``disk_*`` at 0 for an NBD copy, its block-job events do not) and
  optionally samples the domain's CPU,
  network, block and memory statistics (``domainListGetStats``) on
  whichever host runs it.

While a migration runs, libvirt's ``downtime`` is only QEMU's *expected*
downtime; only the completed statistics carry the real one, so nothing
here reports a running job's downtime.

:func:`migrate_direct` runs a migration without Nova (the migration rig's
driver): the same monitor, the same record.

libvirt is imported lazily: the Rally plugins import this module's users
at start-up.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

# Constants newer than the oldest supported libvirt (9.0) are looked up
# with getattr; these are the numeric values of libvirt's public API.
JOB_STATS_COMPLETED = 1
EVENT_ID_JOB_COMPLETED = 21
EVENT_ID_BLOCK_JOB_2 = 16
BLOCK_JOB_TYPE_COPY = 2
MIGRATE_FLAGS = {
    "live": 1,
    "peer2peer": 2,
    "tunnelled": 4,
    "persist_dest": 8,
    "undefine_source": 16,
    "paused": 32,
    "non_shared_disk": 64,
    "non_shared_inc": 128,
    "change_protection": 256,
    "unsafe": 512,
    "offline": 1024,
    "compressed": 2048,
    "abort_on_error": 4096,
    "auto_converge": 8192,
    "rdma_pin_all": 16384,
    "postcopy": 32768,
    "tls": 65536,
    "parallel": 131072,
}
STATS = {
    "state": 1,
    "cpu_total": 2,
    "balloon": 4,
    "vcpu": 8,
    "interface": 16,
    "block": 32,
}
# libvirt's job-stat names, and how the record calls them (seconds and
# bytes; libvirt gives milliseconds and, for the dirty rate, pages/s).
MS_FIELDS = {
    "time_elapsed": "time_elapsed",
    "downtime": "downtime",
    "downtime_net": "downtime_net",
    "setup_time": "setup_time",
}
PLAIN_FIELDS = {
    "data_total": "data_total",
    "data_processed": "data_processed",
    "data_remaining": "data_remaining",
    "memory_iteration": "memory_iterations",
    "memory_total": "memory_total",
    "memory_postcopy_requests": "postcopy_requests",
}


class HypervisorError(Exception):
    """A hypervisor cannot be reached or refused a request (one line)."""


_loop_lock = threading.Lock()
_loop_started = False


def _libvirt():
    import libvirt

    return libvirt


def ensure_event_loop() -> None:
    """libvirt's default event loop, in one daemon thread per process.

    It must be registered before the first connection that wants events.
    """
    global _loop_started
    libvirt = _libvirt()
    with _loop_lock:
        if _loop_started:
            return
        libvirt.virEventRegisterDefaultImpl()
        # libvirt prints every error on stderr by default; they are
        # raised as exceptions and reported here instead.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(
            target=run, name="libvirt-events", daemon=True
        ).start()
        _loop_started = True


def flags_of(names) -> int:
    value = 0
    for name in names:
        try:
            value |= MIGRATE_FLAGS[name]
        except KeyError:
            raise HypervisorError(
                f"unknown migration flag {name!r}; known: "
                + ", ".join(sorted(MIGRATE_FLAGS))
            ) from None
    return value


def job_record(stats: dict[str, Any]) -> dict[str, Any]:
    """libvirt's completed-job statistics as the record's fields. Pure."""
    out: dict[str, Any] = {}
    for key, name in MS_FIELDS.items():
        if key in stats:
            out[name] = stats[key] / 1000.0
    for key, name in PLAIN_FIELDS.items():
        if key in stats:
            out[name] = stats[key]
    rate, page = stats.get("memory_dirty_rate"), stats.get("memory_page_size")
    if rate is not None:
        out["dirty_rate"] = rate * (page or 4096)  # bytes/s
    return out


class Hypervisors:
    """Connections to compute hosts from a URI template."""

    def __init__(self, uri_template: str, host_map: dict | None = None):
        if "{host}" not in uri_template:
            raise HypervisorError(
                f"libvirt URI template {uri_template!r} has no {{host}}"
            )
        self.uri_template = uri_template
        self.host_map = dict(host_map or {})
        self._conns: dict[str, Any] = {}
        self._lock = threading.Lock()

    def uri(self, host: str) -> str:
        return self.uri_template.format(host=self.host_map.get(host, host))

    def connect(self, host: str):
        libvirt = _libvirt()
        ensure_event_loop()
        with self._lock:
            conn = self._conns.get(host)
            if conn is not None and conn.isAlive():
                return conn
            try:
                conn = libvirt.open(self.uri(host))
            except libvirt.libvirtError as exc:
                raise HypervisorError(
                    f"cannot connect to libvirt on {host} "
                    f"({self.uri(host)}): {_message(exc)}"
                ) from None
            conn.setKeepAlive(5, 3)
            self._conns[host] = conn
            return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._conns.values():
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - closing a dead link
                    pass
            self._conns.clear()


def _message(exc) -> str:
    text = exc.get_error_message() if hasattr(exc, "get_error_message") else ""
    return (text or str(exc)).strip().splitlines()[0]


def _lookup(conn, uuid: str):
    libvirt = _libvirt()
    try:
        return conn.lookupByUUIDString(uuid)
    except libvirt.libvirtError:
        return None


@dataclasses.dataclass
class Sample:
    t: float
    host: str
    cpu_time: float | None  # seconds of CPU used by the guest so far
    net_rx: int | None
    net_tx: int | None
    block_rd: int | None
    block_wr: int | None
    rss: int | None  # KiB (balloon.rss)

    def to_json(self) -> list:
        return [
            round(self.t, 3),
            self.host,
            self.cpu_time,
            self.net_rx,
            self.net_tx,
            self.block_rd,
            self.block_wr,
            self.rss,
        ]


SAMPLE_FIELDS = (
    "t",
    "host",
    "cpu_time",
    "net_rx",
    "net_tx",
    "block_rd",
    "block_wr",
    "rss",
)


def sample_of(t: float, host: str, stats: dict) -> Sample:
    """One ``domainListGetStats`` answer as a sample. Pure."""

    def total(prefix: str, suffix: str) -> int | None:
        count = stats.get(f"{prefix}.count")
        if count is None:
            return None
        return sum(
            stats.get(f"{prefix}.{i}.{suffix}", 0) for i in range(count)
        )

    cpu = stats.get("cpu.time")
    return Sample(
        t=t,
        host=host,
        cpu_time=cpu / 1e9 if cpu is not None else None,
        net_rx=total("net", "rx.bytes"),
        net_tx=total("net", "tx.bytes"),
        block_rd=total("block", "rd.bytes"),
        block_wr=total("block", "wr.bytes"),
        rss=stats.get("balloon.rss"),
    )


class MigrationMonitor:
    """libvirt's figures for one domain's migration, source to target."""

    def __init__(
        self,
        hypervisors: Hypervisors,
        source: str,
        target: str,
        uuid: str,
        sample_interval: float | None = None,
    ) -> None:
        self.hv = hypervisors
        self.source, self.target, self.uuid = source, target, uuid
        self.sample_interval = sample_interval
        self.samples: list[Sample] = []
        self.event: dict | None = None
        self.event_at: float | None = None
        self.mirrored_disks: set[str] = set()
        self._event_seen = threading.Event()
        self._stop = threading.Event()
        self._callback_ids: list[int] = []
        self._sampler: threading.Thread | None = None
        self.error: str | None = None

    def start(self) -> None:
        """Connect to both hosts and listen; call before the migration."""
        src = self.hv.connect(self.source)
        self.hv.connect(self.target)
        dom = _lookup(src, self.uuid)
        if dom is None:
            raise HypervisorError(
                f"domain {self.uuid} is not on {self.source}'s libvirt"
            )

        def on_job_completed(conn, domain, params, opaque) -> None:
            if domain.UUIDString() == self.uuid:
                self.event = dict(params)
                self.event_at = time.time()
                self._event_seen.set()

        def on_block_job(conn, domain, disk, kind, status, opaque) -> None:
            if domain.UUIDString() == self.uuid and (
                kind == BLOCK_JOB_TYPE_COPY
            ):
                self.mirrored_disks.add(disk)

        self._callback_ids = [
            src.domainEventRegisterAny(
                dom, EVENT_ID_JOB_COMPLETED, on_job_completed, None
            ),
            src.domainEventRegisterAny(
                dom, EVENT_ID_BLOCK_JOB_2, on_block_job, None
            ),
        ]
        if self.sample_interval:
            self._sampler = threading.Thread(
                target=self._sample_loop, daemon=True
            )
            self._sampler.start()

    def _sample_loop(self) -> None:
        libvirt = _libvirt()
        flags = sum(STATS.values())
        assert self.sample_interval
        while not self._stop.wait(self.sample_interval):
            for host in (self.source, self.target):
                try:
                    conn = self.hv.connect(host)
                    dom = _lookup(conn, self.uuid)
                    if dom is None or not dom.isActive():
                        continue
                    state = dom.state()[0]
                    if state != libvirt.VIR_DOMAIN_RUNNING:
                        continue
                    found = conn.domainListGetStats([dom], flags)
                except (libvirt.libvirtError, HypervisorError):
                    continue
                if found:
                    self.samples.append(
                        sample_of(time.time(), host, found[0][1])
                    )
                    break

    def finish(self, succeeded: bool, timeout: float = 10.0) -> dict:
        """Stop listening; the job's figures (seconds, bytes)."""
        self._stop.set()
        libvirt = _libvirt()
        stats: dict | None = None
        origin = None
        deadline = time.monotonic() + timeout
        if succeeded:
            while time.monotonic() < deadline:
                try:
                    dom = _lookup(self.hv.connect(self.target), self.uuid)
                    if dom is not None:
                        found = dom.jobStats(JOB_STATS_COMPLETED)
                        if found.get("time_elapsed"):
                            stats, origin = found, "target job stats"
                            break
                except (libvirt.libvirtError, HypervisorError) as exc:
                    self.error = str(exc)
                if self._event_seen.is_set() and self.event:
                    break
                time.sleep(0.1)
        if stats is None:
            self._event_seen.wait(
                max(0.0, min(2.0, deadline - time.monotonic()))
            )
            if self.event:
                stats, origin = self.event, "source JOB_COMPLETED event"
        self._unregister()
        if self._sampler is not None:
            self._sampler.join(5)
        record = job_record(stats or {})
        record["libvirt_source"] = origin
        record["disks_mirrored"] = sorted(self.mirrored_disks)
        record["samples"] = [s.to_json() for s in self.samples]
        return record

    def _unregister(self) -> None:
        for callback_id in self._callback_ids:
            try:
                self.hv.connect(self.source).domainEventDeregisterAny(
                    callback_id
                )
            except Exception:  # noqa: BLE001 - the link may be gone
                pass
        self._callback_ids = []


@dataclasses.dataclass
class DirectResult:
    success: bool
    error: str | None
    started: float
    finished: float
    libvirt: dict


def migrate_direct(
    hypervisors: Hypervisors,
    source: str,
    target: str,
    uuid: str,
    flags: int,
    dest_uri: str | None = None,
    params: dict | None = None,
    sample_interval: float | None = None,
    during: Callable[[Any], None] | None = None,
    timeout: float = 600.0,
) -> DirectResult:
    """Live-migrate one domain with ``migrateToURI3`` (no Nova).

    ``during(domain)`` runs in a thread once the migration is under way
    (the rig's failure tests call ``abortJob`` from it). A refused or
    aborted migration is a result with ``success=False`` and libvirt's
    message, never an exception; ``timeout`` aborts the job.
    """
    libvirt = _libvirt()
    monitor = MigrationMonitor(
        hypervisors, source, target, uuid, sample_interval
    )
    monitor.start()
    src = hypervisors.connect(source)
    dom = _lookup(src, uuid)
    error: list[str] = []
    done = threading.Event()

    def run() -> None:
        try:
            dom.migrateToURI3(
                dest_uri or hypervisors.uri(target), dict(params or {}), flags
            )
        except libvirt.libvirtError as exc:
            error.append(_message(exc))
        finally:
            done.set()

    started = time.time()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    if during is not None:
        threading.Thread(target=during, args=(dom,), daemon=True).start()
    if not done.wait(timeout):
        try:
            dom.abortJob()
        except libvirt.libvirtError:
            pass
        done.wait(30)
        error.insert(0, f"timed out after {timeout:g} s; aborted")
    finished = time.time()
    success = not error
    return DirectResult(
        success=success,
        error=error[0] if error else None,
        started=started,
        finished=finished,
        libvirt=monitor.finish(success),
    )
