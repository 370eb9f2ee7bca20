"""What the computes' files and Nova's migration records were during an
evacuation task: both are gone or restored once it ends."""

from __future__ import annotations

import threading
from pathlib import Path

from rally_osic.lab import config as lab_config


def admin_session(state_dir: Path):
    from rally_osic.lab import catalog

    return catalog.admin_session(lab_config.load(state_dir))


def nova_get(sess, path: str) -> dict:
    return sess.get(
        path,
        endpoint_filter={"service_type": "compute", "interface": "public"},
        headers={"OpenStack-API-Version": "compute 2.59"},
    ).json()


def live_migration_ids(sess) -> set[int]:
    found = nova_get(sess, "/os-migrations?migration_type=live-migration")
    return {record["id"] for record in found["migrations"]}


class NovaWatcher(threading.Thread):
    """Every content the compute files had during the run, and Nova's
    live-migration records, which it hides once their servers are
    deleted (all but those in ``known``)."""

    def __init__(self, files: list[Path], sess, known: set[int]):
        super().__init__(daemon=True)
        self.files = files
        self.sess = sess
        self.known = known
        self.seen: dict[Path, set[str]] = {path: set() for path in files}
        self.migrations: dict[int, dict] = {}
        self.stop = threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            for path in self.files:
                try:
                    self.seen[path].add(path.read_text())
                except OSError:
                    pass
            try:
                found = nova_get(
                    self.sess, "/os-migrations?migration_type=live-migration"
                )["migrations"]
            except Exception:  # noqa: BLE001 - nova restarting: next poll
                continue
            for record in found:
                if record["id"] not in self.known:
                    self.migrations[record["id"]] = record

    def moves(self) -> list[tuple[str, str, str]]:
        """(source, destination, status) of each migration, sorted."""
        return sorted(
            (m["source_compute"], m["dest_compute"], m["status"])
            for m in self.migrations.values()
        )
