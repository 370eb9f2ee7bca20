"""A migration past its timeout is aborted through Nova: asked again while
Nova cannot abort it yet, and recorded with the status it ends in.

Nova is a fake here (a state machine of one server and its migration
record): Nova's refusal of a queued migration's abort cannot be timed on
demand against a real one. The real rig's timeout abort is in
tests/functional/rig/test_migration_rig.py; one through the lab's Nova
on the libvirt computes is still to be written (issue 13)."""

from __future__ import annotations

from types import SimpleNamespace

from rally_osic.probes import evacuate


class RefusedByNova(Exception):
    pass


class Nova:
    """One server migrating from host-a; its migration goes through
    ``states`` one step per look at the record, then waits to be
    aborted (or ends as the last state says)."""

    def __init__(self, states, refuse_running=False, settle_polls=2):
        self.record = SimpleNamespace(
            id=7, status=states[0], migration_type="live-migration"
        )
        self.states = list(states[1:])
        self.refuse_running = refuse_running
        self.settle_polls = settle_polls
        self.refusals = 0
        self.aborted = False
        self.migrations = SimpleNamespace(list=self._list)
        self.servers = SimpleNamespace(get=self._get)
        self.server_migrations = SimpleNamespace(
            live_migration_abort=self._abort
        )

    def _list(self, instance_uuid):
        if self.states and not self.aborted:
            self.record.status = self.states.pop(0)
        return [self.record]

    def _abort(self, server_id, migration_id):
        assert migration_id == self.record.id
        if self.record.status != "running" or self.refuse_running:
            self.refusals += 1
            raise RefusedByNova(
                f"Migration {migration_id} state of instance {server_id} "
                f"is {self.record.status}. Cannot abort.\nmore lines"
            )
        self.aborted = True

    def _get(self, server_id):
        migrating = self.record.status not in ("completed", "cancelled")
        if self.aborted:
            self.settle_polls -= 1
            if self.settle_polls <= 0:
                self.record.status = "cancelled"
                migrating = False
        return SimpleNamespace(
            status="MIGRATING" if migrating else "ACTIVE",
            **{
                "OS-EXT-STS:task_state": "migrating" if migrating else None,
                "OS-EXT-SRV-ATTR:host": "host-a",
            },
        )


OPTIONS = evacuate.Options(timeout=45, poll_interval=0, abort_wait=60)


def abort(nova, migration=None):
    return evacuate._abort(
        nova, "vm-1", migration, 0, OPTIONS, lambda seconds: None
    )


def test_asked_again_while_queued_then_cancelled():
    nova = Nova(["queued", "queued", "preparing", "running"])
    reason, status = abort(nova)
    assert nova.refusals == 2 and nova.aborted
    assert status == "cancelled"
    assert reason == (
        "timed out after 45 s; aborted (server on host-a, migration cancelled)"
    )


def test_a_migration_that_ends_first_is_not_aborted():
    nova = Nova(["queued", "completed"])
    reason, status = abort(nova)
    assert not nova.aborted and status == "completed"
    assert reason.endswith("; it ended (completed) before the abort")


def test_a_refusal_of_a_running_migration_is_recorded_at_once():
    nova = Nova(["running"], refuse_running=True)
    reason, status = abort(nova)
    assert nova.refusals == 1 and status == "running"
    assert reason == (
        "timed out after 45 s; abort refused: Migration 7 state of "
        "instance vm-1 is running. Cannot abort."
    )


def test_no_record_means_nothing_to_abort():
    nova = Nova(["running"])
    nova.migrations = SimpleNamespace(list=lambda instance_uuid: [])
    assert abort(nova) == (
        "timed out after 45 s; no migration record to abort",
        None,
    )
