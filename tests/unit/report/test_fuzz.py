"""Fuzzing the Rally JSON structure: whatever the file holds, the report
renders or fails with one line and exit code 1, never a traceback (an
exception escaping ``main`` fails the test)."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rally_osic import cli
from tests.unit.report import factory

# Keys the report reads: drawn as often as random ones, so that new
# entries land where the code looks.
KNOWN_KEYS = [
    "timestamp",
    "duration",
    "error",
    "data",
    "hooks",
    "config",
    "results",
    "summary",
    "action",
    "trigger",
    "osic_fault",
    "fault",
    "started_at",
    "finished_at",
    "triggered_at",
    "effective_at",
    "healthy_at",
    "output",
    "complete",
    "rows",
    "cols",
    "sla",
    "sla_results",
    "fault_at",
    "unit",
    "at",
    "criterion",
    "success",
    "detail",
    "scenario",
    "description",
    "fault_downtime",
    "fault_recovery",
    "window",
    "percentile",
    "status",
    "tasks",
    "subtasks",
    "workloads",
    "info",
    "format_version",
    "key",
    "name",
    "kw",
    "result",
    "runner",
    "contexts",
    "additive",
    "uuid",
]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e300, -1.0, 0, 1.79e9, 1e10 + 1])
    | st.text(max_size=12)
    | st.sampled_from(["time", "iteration", "osic_fault", "failed", "\x00"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(KNOWN_KEYS) | st.text(max_size=6),
            inner,
            max_size=3,
        )
    ),
    max_leaves=6,
)


def base_document():
    workloads = [
        factory.fault_workload(
            iterations=40,
            rps=2.0,
            fault_at=8.0,
            outage=(9.0, 12.0),
            degraded=(12.0, 14.0),
        ),
        factory.fault_workload(
            iterations=30,
            rps=2.0,
            fault_at=6.0,
            hook="fault_injection",
            seed=2,
        ),
        factory.live_migration_workload("shared", True, "small", seed=7),
    ]
    for workload in workloads:
        workload["data"] = workload["data"][:40]
    return factory.document(workloads)


BASE = base_document()
BASE_OLD = factory.old_format(BASE["tasks"][0]["subtasks"][0]["workloads"][:2])


def paths(value, prefix=()):
    """Every (container, key) of the document, breadth first."""
    found = []
    pending = [value]
    while pending:
        container = pending.pop(0)
        items = (
            container.items()
            if isinstance(container, dict)
            else enumerate(container)
        )
        for key, item in items:
            found.append((container, key))
            if isinstance(item, dict | list) and item:
                pending.append(item)
    return found


def mutate(document, data) -> None:
    places = paths(document)
    if not places:
        return
    container, key = places[data.draw(st.integers(0, len(places) - 1))]
    operation = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if operation == "replace":
        container[key] = data.draw(VALUES)
    elif operation == "delete":
        del container[key]
    elif isinstance(container, dict):
        container[data.draw(st.sampled_from(KNOWN_KEYS))] = data.draw(VALUES)
    else:
        container.insert(key, data.draw(VALUES))


@settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 120)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_any_rally_json_renders_or_fails_in_one_line(data, tmp_path_factory):
    old = data.draw(st.booleans())
    document = copy.deepcopy(BASE_OLD if old else BASE)
    for _ in range(data.draw(st.integers(1, 4))):
        mutate(document, data)
    text = json.dumps(document)  # NaN and Infinity as Python writes them
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(text)))
        text = text[:cut] if data.draw(st.booleans()) else text
    tmp = tmp_path_factory.mktemp("fuzz")
    path = tmp / "results.json"
    path.write_text(text)
    out = tmp / "out"
    code = cli.main(
        ["report", str(path), "-o", str(out), "-q", "--workers", "1"]
    )
    event(f"exit {code}")
    assert code in (0, 1, 3)
    if code == 1:
        assert not out.exists()
