"""The reporter reads the evacuation scenario's real rows
(rally_osic/probes/records.py), "n/a" cells and all."""

from rally_osic.probes import records
from rally_osic.report import livemigration


def _row(vm, success=True, probe=None, transport="tunnelled"):
    udp = None
    if probe is not None:
        lost = int(probe / 0.001)
        udp = {
            "interval": 0.001,
            "t0": 0.0,
            "last_slot": 1999,
            "sent": 2000,
            "answered": 2000 - lost,
            "lost": [[1000, 999 + lost]],
            "skipped": [],
        }
    return records.migration_row(
        vm=vm,
        direction="a -> b",
        source="a",
        target="b",
        success=success,
        error="" if success else "host unchanged",
        duration=2.0,
        transport=transport,
        block_migration="auto",
        udp=udp,
    )


def _workload(rows, args=None):
    return {
        "scenario": {"OsicLiveMigration.evacuate_host": args or {}},
        "data": [
            {
                "timestamp": 1.0,
                "duration": 5.0,
                "error": [],
                "output": {
                    "complete": [
                        records.table(rows),
                        {
                            "title": "Evacuation",
                            "chart_plugin": "Table",
                            "data": {
                                "cols": ["flavor"],
                                "rows": [["m1.lab"]],
                            },
                        },
                    ]
                },
            }
        ],
    }


def test_scenario_rows_name_their_table_and_keep_na_out():
    rows = [_row("vm-1", probe=0.064), _row("vm-2"), _row("vm-3", False)]
    run = livemigration.extract(_workload(rows), "t")
    assert (run.tunnelled, run.flavor) == ("on", "m1.lab")
    (table,) = livemigration.tables([run])
    assert (table.successful_migrations, table.migrations) == (2, 3)
    # vm-2 had nothing to probe: counted nowhere, not as a 0 s downtime.
    assert table.probe_downtime.count == 1
    assert abs(table.probe_downtime.median - 0.064) < 1e-9
    assert table.ping_500ms_downtime.count == 1
    assert table.run_list == [run]


def test_native_tls_is_tunnelling_off():
    run = livemigration.extract(
        _workload([_row("vm-1", transport="native_tls")]), "t"
    )
    assert run.tunnelled == "off"


def test_run_chart_is_a_png():
    run = livemigration.extract(
        _workload([_row("vm-1", probe=0.05), _row("vm-2", False)]), "t"
    )
    assert run.chart_uri.startswith("data:image/png;base64,iVBOR")
