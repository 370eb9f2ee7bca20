import pytest

from rally_osic.report import livemigration
from tests.unit.report import factory


def test_detects_scenario_and_table():
    workload = factory.live_migration_workload("shared", True, "small")
    assert livemigration.is_live_migration(workload)
    assert not livemigration.is_live_migration(factory.fault_workload())


def test_one_table_per_configuration_with_success_rate():
    runs = [
        livemigration.extract(
            factory.live_migration_workload("local", False, "large", seed=1),
            "t",
        ),
        livemigration.extract(
            factory.live_migration_workload(
                "local", False, "large", seed=2, failures=5
            ),
            "t",
        ),
        livemigration.extract(
            factory.live_migration_workload("shared", True, "small"), "t"
        ),
    ]
    tables = livemigration.tables(runs)
    assert [t.title for t in tables] == [
        "Local storage, tunnelling off, large flavor",
        "Shared storage, tunnelling on, small flavor",
    ]
    local = tables[0]
    assert local.runs == 2
    assert local.migrations == 480
    assert local.successful_migrations == 475
    assert local.evacuations == 80
    shared = tables[1]
    assert (shared.successful_migrations, shared.migrations) == (240, 240)
    probe = shared.probe_downtime
    assert probe.count == 240
    assert probe.median <= probe.p95 <= probe.maximum
    assert shared.libvirt_downtime.median < probe.median
    assert shared.tcp_measured == 240 and shared.tcp_with_loss == 0
    assert shared.evacuation_mean == pytest.approx(
        sum(e.duration for e in runs[2].evacuations) / 40
    )


def test_missing_cells_are_not_measured():
    workload = factory.live_migration_workload("shared", True, "small")
    for iteration in workload["data"]:
        table = iteration["output"]["complete"][0]["data"]
        table["cols"] = ["vm", "success", "duration"]
        table["rows"] = [row[:3] for row in table["rows"]]
    (table,) = livemigration.tables([livemigration.extract(workload, "t")])
    assert table.probe_downtime.count == 0
    assert table.tcp_measured == 0
