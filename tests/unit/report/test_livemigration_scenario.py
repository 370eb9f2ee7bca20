"""The reporter reads the evacuation scenario's real rows
(rally_osic/probes/records.py), "n/a" cells and all."""

import base64

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


def test_native_tls_has_tables_of_its_own():
    """Tunnelling off, but encrypted: not the study's "off" column."""
    tls = livemigration.extract(
        _workload([_row("vm-1", transport="native_tls")]), "t"
    )
    native = livemigration.extract(
        _workload([_row("vm-1", transport="native")]), "t"
    )
    assert (tls.tunnelled, native.tunnelled) == ("off (native TLS)", "off")
    assert len(livemigration.tables([tls, native])) == 2


def test_per_server_sums_what_a_500ms_ping_saw():
    rows = [
        _row("vm-1", probe=0.3),
        _row("vm-2", probe=1.2),
        _row("vm-1", probe=0.8),
        _row("vm-2", False),
    ]
    (table,) = livemigration.tables(
        [livemigration.extract(_workload(rows), "t")]
    )
    by_vm = {s.vm: s for s in table.servers}
    assert sorted(by_vm) == ["vm-1", "vm-2"]
    assert by_vm["vm-1"].migrations == 2 and by_vm["vm-2"].migrations == 2
    assert abs(by_vm["vm-1"].probe_total - 1.1) < 1e-6
    # The 500 ms ping's figure of each migration, from the same packets.
    pings = [r["ping_500ms_downtime"] for r in rows[:3]]
    assert by_vm["vm-1"].ping_500ms_total == pings[0] + pings[2]
    assert by_vm["vm-1"].ping_500ms_worst == max(pings[0], pings[2])
    # The failed migration had nothing measured: not a 0 s downtime.
    assert by_vm["vm-2"].ping_500ms_total == pings[1]


def test_each_configuration_meets_the_studys_own_figures():
    from rally_osic.study import catalogue

    figures = livemigration.study_figures(catalogue.load().entries)
    assert len(figures) == 12  # 2 storages x 2 tunnellings x 3 flavors
    large = figures[("shared", "off", "large")]
    assert (large.number, large.successful, large.migrations) == (
        "LM.3",
        233,
        240,
    )
    assert large.vm_downtimes == (3.5, 5.5, 3.0, 2.5, 5.5, 3.0)
    assert large.vm_downtime_total == 23.0 and large.minutes == 1.98
    assert "lines 164-180" in large.source
    assert sum(f.migrations - f.successful for f in figures.values()) == 14

    args = {"storage": "shared", "flavor": "osic-lm-large"}
    rows = [_row("vm-1", transport="native")]
    tables = livemigration.tables(
        [
            livemigration.extract(_workload(rows, args), "t"),
            livemigration.extract(
                _workload([_row("vm-1", transport="native_tls")], args), "t"
            ),
        ],
        figures,
    )
    assert [t.study for t in tables] == [large, None]  # TLS: not studied


def test_run_chart_is_a_png_for_html_and_an_svg_for_pdf():
    run = livemigration.extract(
        _workload([_row("vm-1", probe=0.05), _row("vm-2", False)]), "t"
    )
    assert run.chart_uri().startswith("data:image/png;base64,iVBOR")
    vector = run.chart_uri(vector=True)
    prefix = "data:image/svg+xml;base64,"
    assert vector.startswith(prefix)
    svg = base64.b64decode(vector[len(prefix) :]).decode()
    assert "<svg" in svg and "migration (in order)" in svg


def test_a_cell_rally_ran_nothing_of_says_why_and_its_transport():
    """A server no host could take fails the context before the first
    evacuation: the cell's table says so in Rally's words, under the
    transport its context set (no migration says it)."""
    workload = _workload([], {"storage": "shared", "flavor": "lab-large"})
    workload["data"] = []
    workload["contexts"] = {
        "osic_migration_transport": {"transport": "native"}
    }
    reason = "Unexpected error: server lm-1 went to ERROR: No valid host"
    workload["sla_results"] = {
        "sla": [
            {"criterion": "failure_rate", "success": True, "detail": "ok"},
            {
                "criterion": "something_went_wrong",
                "success": False,
                "detail": reason,
            },
        ]
    }
    run = livemigration.extract(workload, "t")
    assert (run.tunnelled, run.flavor, run.not_run) == (
        "off",
        "lab-large",
        reason,
    )
    ran = livemigration.extract(_workload([_row("vm-1")]), "t")
    assert ran.not_run is None
    (table,) = livemigration.tables([run])
    assert table.not_run == [reason] and table.migrations == 0
