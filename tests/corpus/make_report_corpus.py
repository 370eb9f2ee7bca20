"""Write tests/corpus/report/: one small Rally JSON file per class of bad
input, each a valid fault run with one defect planted.

    python tests/corpus/make_report_corpus.py

Expected errors are in tests/corpus/expected.yaml (kept by hand)."""

from __future__ import annotations

import copy
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.unit.report import factory  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent / "report"


def base():
    workload = factory.fault_workload(
        iterations=30,
        rps=2.0,
        fault_at=6.0,
        outage=(7.0, 9.0),
        degraded=(9.0, 10.0),
    )
    return factory.document([workload])


def workload(document):
    return document["tasks"][0]["subtasks"][0]["workloads"][0]


def planted(change):
    document = base()
    change(document, workload(document))
    return document


def nest(depth):
    value = {}
    for _ in range(depth):
        value = {"x": value}
    return value


CASES = {
    "iteration-without-duration.json": lambda d, w: w["data"][4].pop(
        "duration"
    ),
    "iteration-without-timestamp.json": lambda d, w: w["data"][2].pop(
        "timestamp"
    ),
    "nan-duration.json": lambda d, w: w["data"][5].update(
        duration=float("nan")
    ),
    "infinite-timestamp.json": lambda d, w: w["data"][6].update(
        timestamp=float("inf")
    ),
    "minus-infinite-duration.json": lambda d, w: w["data"][6].update(
        duration=float("-inf")
    ),
    "negative-duration.json": lambda d, w: w["data"][7].update(
        duration=-1.422
    ),
    "timestamp-1e300.json": lambda d, w: w["data"][8].update(timestamp=1e300),
    "timestamp-true.json": lambda d, w: w["data"][9].update(timestamp=True),
    "duration-a-string.json": lambda d, w: w["data"][3].update(duration="0.2"),
    "iteration-not-an-object.json": lambda d, w: w["data"].__setitem__(
        1, [0.2, 1.79e9]
    ),
    "nested-too-deeply.json": lambda d, w: w["contexts"].update(deep=nest(80)),
    "scenario-wrong-shape.json": lambda d, w: w.update(
        scenario=["Authenticate.keystone"]
    ),
    "hooks-an-object.json": lambda d, w: w.update(hooks={"osic_fault": 1}),
    "hook-config-a-list.json": lambda d, w: w["hooks"][0].update(
        config=["osic_fault"]
    ),
    "sla-results-wrong-shape.json": lambda d, w: w.update(
        sla_results={"sla": True}
    ),
    "fault-sla-not-an-object.json": lambda d, w: w["sla"].update(
        fault_downtime=5
    ),
    "no-iterations.json": lambda d, w: w.update(data=[]),
    "format-version-9.json": lambda d, w: d["info"].update(
        format_version="9.9"
    ),
    "no-workloads.json": lambda d, w: d["tasks"][0]["subtasks"][0].update(
        workloads=[]
    ),
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, change in CASES.items():
        text = json.dumps(planted(change), indent=1)
        (OUT / name).write_text(text + "\n")
    good = json.dumps(base(), indent=1)
    (OUT / "utf8-bom.json").write_bytes(b"\xef\xbb\xbf" + good.encode())
    (OUT / "truncated.json").write_text(good[: len(good) // 2])
    (OUT / "empty.json").write_text("")
    (OUT / "not-json.json").write_text("<html>not json</html>\n")
    (OUT / "latin1.json").write_bytes(
        good.replace("Synthetic", "Synth\u00e9tic").encode("latin-1")
    )
    (OUT / "json-nested-past-the-parser.json").write_text(
        '{"info": {}, "tasks": [' + "[" * 100000 + "]" * 100000 + "]}"
    )
    (OUT / "extra-data.json").write_text(good + "\n{}\n")
    (OUT / "old-format-not-results.json").write_text("[1, 2, 3]\n")
    (OUT / "no-tasks.json").write_text('{"info": {}, "rows": []}\n')
    old = factory.old_format(
        copy.deepcopy(base()["tasks"][0]["subtasks"][0]["workloads"])
    )
    old[0]["result"][3]["duration"] = float("nan")
    (OUT / "old-format-nan.json").write_text(json.dumps(old) + "\n")


if __name__ == "__main__":
    main()
