import pytest

from rally_osic.report import faults
from tests.unit.report import factory

ORIGIN = factory.ORIGIN


def find(workload):
    return faults.find_fault(workload, ORIGIN, lambda n: (n - 1) * 0.2)


def test_osic_fault_hook_wins_with_effect_and_trigger():
    workload = factory.fault_workload(fault_at=20, effect_delay=2.5)
    fault = find(workload)
    assert fault.source == "measured"
    assert fault.at == pytest.approx(ORIGIN + 22.5)
    assert fault.triggered == pytest.approx(ORIGIN + 20)
    assert fault.healthy == pytest.approx(ORIGIN + 30)
    assert fault.label == "Kill memcached service on one node"


def test_any_hook_started_at_beats_sla_config():
    workload = factory.fault_workload(hook="fault_injection", fault_at=33)
    fault = find(workload)
    assert (fault.source, fault.at) == ("hook", ORIGIN + 33)
    assert fault.triggered is None


def test_fault_like_hook_is_preferred_over_other_hooks():
    workload = factory.fault_workload(hook="fault_injection", fault_at=33)
    noise = factory.fault_injection_hook("echo hello", ORIGIN + 1)
    noise["config"]["action"] = {"sys_call": "echo hello"}
    workload["hooks"].insert(0, noise)
    assert find(workload).at == ORIGIN + 33


def test_sla_fault_at_in_time_and_iterations():
    workload = factory.fault_workload(hook=None, fault_at=20)
    fault = find(workload)
    assert (fault.source, fault.at) == ("trigger", ORIGIN + 20)
    workload["sla"]["fault_downtime"]["fault_at"] = {
        "unit": "iteration",
        "at": 11,
    }
    workload["sla"].pop("fault_recovery")
    assert find(workload).at == pytest.approx(ORIGIN + 2.0)


def test_no_fault_at_all():
    workload = factory.fault_workload(hook=None, sla_fault_at=False)
    assert find(workload) is None


@pytest.mark.parametrize(
    "result",
    [
        {
            "output": {
                "osic_fault": {"triggered_at": 1e9, "effect_at": 1e9 + 2}
            }
        },
        {"osic_fault": {"Triggered": 1e9, "effect observed": 1e9 + 2}},
        {
            "output": {
                "complete": [
                    {
                        "data": [
                            ["triggered_at", 1e9],
                            ["effective_at", 1e9 + 2],
                        ]
                    }
                ]
            }
        },
        {
            "output": {
                "complete": [
                    {
                        "data": {
                            "cols": ["moment", "t"],
                            "rows": [
                                ["triggered_at", 1e9],
                                ["effect_observed_at", 1e9 + 2],
                            ],
                        }
                    }
                ]
            }
        },
    ],
)
def test_measured_timestamp_shapes(result):
    stamps = faults.measured_timestamps(result)
    assert stamps == {"triggered": 1e9, "effective": 1e9 + 2}


def test_unrelated_output_gives_no_timestamps():
    result = {
        "output": {"complete": [{"data": ["RetCode: 0", "StdOut: (empty)"]}]}
    }
    assert faults.measured_timestamps(result) == {}


def test_the_hooks_own_fault_record_is_read():
    # What rally_osic.plugins.hooks.osic_fault stores in a Rally result:
    # the record under "fault", the output as Table charts with clock
    # times (not epochs).
    result = {
        "status": "success",
        "started_at": 1e9,
        "fault": {
            "fault": "restart memcached service on one node",
            "triggered_at": 1e9 + 0.5,
            "effective_at": 1e9 + 1.1,
            "restored_at": 1e9 + 5,
            "healthy_at": 1e9 + 6.2,
            "came_back": "itself",
            "recover_within": 300,
            "nodes": [{"host": "127.0.0.1", "effective_at": 1e9 + 1.1}],
        },
        "output": {
            "additive": [],
            "complete": [
                {
                    "title": "Fault: restart memcached",
                    "chart_plugin": "Table",
                    "data": {
                        "cols": ["event", "time (UTC)", "seconds"],
                        "rows": [["triggered_at", "01:46:40.500", "+0.000"]],
                    },
                }
            ],
        },
    }
    assert faults.measured_timestamps(result) == {
        "triggered": 1e9 + 0.5,
        "effective": 1e9 + 1.1,
        "healthy": 1e9 + 6.2,
    }
