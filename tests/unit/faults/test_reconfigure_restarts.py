"""Reconfiguration restarts the changed computes together and restores
every one, whatever fails. The transport and Nova are stand-ins here (the
lab's e2e tests restart real nova-computes through the fault layer)."""

from __future__ import annotations

import threading
import time

import pytest

from rally_osic.faults import reconfigure

NATIVE = "[libvirt]\nlive_migration_tunnelled = false\n"
TUNNELLED = {"live_migration_tunnelled": "true"}


class Stand(reconfigure.Reconfiguration):
    """Files in a dict; a restart takes 0.3 s; wait_up as given."""

    def __init__(self, files, wait_up, fail_restart=()):
        targets = [
            reconfigure.Compute(host, "127.0.0.1", f"/{host}.conf", "nova")
            for host in files
        ]
        super().__init__({}, targets, wait_up)
        self.files = files
        self.fail_restart = set(fail_restart)
        self.restarts: list[tuple[str, float, float]] = []
        self.lock = threading.Lock()

    def read(self, compute):
        return self.files[compute.host]

    def write(self, compute, text):
        self.files[compute.host] = text

    def _restart(self, compute):
        began = time.monotonic()
        time.sleep(0.3)
        if compute.host in self.fail_restart:
            raise reconfigure.ReconfigureError(f"{compute.host}: no")
        with self.lock:
            self.restarts.append((compute.host, began, time.monotonic()))
        return time.time()


def test_changed_computes_restart_together_and_only_they():
    files = {f"c{i}": NATIVE for i in range(4)}
    files["c3"] = NATIVE.replace("false", "true")  # already tunnelled
    waited = []
    change = Stand(files, lambda host, at: waited.append(host))
    effective = change.apply(TUNNELLED)
    assert sorted(h for h, _, _ in change.restarts) == ["c0", "c1", "c2"]
    # Overlapping, not one after the other.
    latest_start = max(began for _, began, _ in change.restarts)
    earliest_end = min(ended for _, _, ended in change.restarts)
    assert latest_start < earliest_end
    assert sorted(waited) == ["c0", "c1", "c2"]
    assert all(
        v["live_migration_tunnelled"] == "true" for v in effective.values()
    )
    assert change.restore() == []
    assert files == {**{f"c{i}": NATIVE for i in range(3)}, "c3": files["c3"]}


def test_a_compute_not_up_in_time_restores_all_and_says_which():
    files = {f"c{i}": NATIVE for i in range(3)}

    def wait_up(host, at):
        if host == "c1":
            raise RuntimeError("nova-compute on c1 not reported up")

    change = Stand(files, wait_up)
    with pytest.raises(reconfigure.ReconfigureError, match="c1 not"):
        change.apply(TUNNELLED)
    assert files == {f"c{i}": NATIVE for i in range(3)}
    assert change.changed == []


def test_restore_goes_on_past_a_failed_restart():
    files = {f"c{i}": NATIVE for i in range(3)}
    change = Stand(files, lambda host, at: None)
    change.apply(TUNNELLED)
    change.fail_restart = {"c0"}
    errors = change.restore()
    assert errors == ["c0: no"]
    assert files == {f"c{i}": NATIVE for i in range(3)}
