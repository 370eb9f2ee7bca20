import json
import xml.etree.ElementTree as ElementTree

import pytest

from rally_osic import cli
from tests.unit.report import factory


def run(*argv):
    return cli.main(["report", *map(str, argv)])


def test_writes_html_junit_and_charts(study_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(study_file, "-o", out, "--workers", "1", "--svg") == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        ".rally-osic-report.json",
        "charts",
        "fault-verdicts.xml",
        "report.html",
    ]
    charts = sorted(p.name for p in (out / "charts").iterdir())
    assert charts[:2] == ["0001.png", "0001.svg"] and len(charts) == 10
    html = (out / "report.html").read_text()
    # 5 fault charts, and one chart per live-migration run of the study.
    lm_charts = html.count('class="chart lm-chart"')
    assert lm_charts == 2
    assert html.count('src="data:image/png;base64,') == 5 + lm_charts
    assert 'href="charts/0001.svg"' in html
    assert "5 charts" in capsys.readouterr().out


def test_strict_exit_code(study_file, tmp_path):
    assert run(study_file, "-o", tmp_path / "o", "-q", "--strict") == 3


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json at all", "not JSON"),
        ('{"info": {}, "tasks": [{"uuid": "x"', "truncated"),
        ('{"rows": []}', "no 'tasks' list"),
    ],
)
def test_bad_input_one_line_and_old_report_untouched(
    tmp_path, capsys, content, message
):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous report")
    assert run(bad, "-o", out, "-q") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"rally-osic report: error: {bad}" in err and message in err
    assert (out / "report.html").read_text() == "previous report"
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]


def test_a_workload_rally_ran_nothing_of_is_a_failed_run(tmp_path, capsys):
    """A context that failed before the first iteration leaves a workload
    with no data: the report shows it failed, in Rally's words (masked),
    and the other runs of the set as measured."""
    measured = factory.fault_workload(outage=(22.0, 24.0), degraded=None)
    empty = factory.fault_workload(label="Kill nova-api service on one node")
    empty["data"] = []
    empty["pass_sla"] = False
    empty["sla_results"]["sla"].append(
        {
            "criterion": "something_went_wrong",
            "success": False,
            "detail": "Unexpected error: boot failed for "
            "http://admin:s3cr3t-pw@127.0.0.1:8774/v2.1: No valid host",
        }
    )
    path = tmp_path / "results.json"
    path.write_text(json.dumps(factory.document([measured, empty])))
    out = tmp_path / "out"
    assert run(path, "-o", out) == 0
    assert "(1/2 tests passed)" in capsys.readouterr().out
    html = (out / "report.html").read_text()
    assert "Rally ran no iteration of this workload: Unexpected error" in html
    assert "No valid host" in html and "s3cr3t-pw" not in html
    assert sorted(p.name for p in (out / "charts").iterdir()) == ["0001.png"]
    junit = ElementTree.parse(out / "fault-verdicts.xml").getroot()
    failures = {
        case.get("name"): case.find("failure").get("message")
        for case in junit.iter("testcase")
        if case.find("failure") is not None
    }
    assert failures == {
        "run 1: fault_downtime": "no iterations to judge: FAIL",
        "run 1: fault_recovery": "no iterations to judge: FAIL",
    }


def baseline_study(tmp_path):
    """A no-fault A/A run (a load test) beside a fault run."""
    no_fault = factory.fault_workload(
        hook=None,
        sla_fault_at=False,
        outage=None,
        degraded=None,
        description="A/A load test",
        seed=3,
    )
    no_fault["sla_results"] = {
        "sla": [{"criterion": "failure_rate", "success": True, "detail": "ok"}]
    }
    path = tmp_path / "with-baseline.json"
    path.write_text(
        json.dumps(factory.document([no_fault, factory.fault_workload()]))
    )
    return path


def test_a_workload_without_fault_is_a_baseline_only_run(tmp_path):
    out = tmp_path / "out"
    assert run(baseline_study(tmp_path), "-o", out, "-q", "--svg") == 0
    html = (out / "report.html").read_text()
    assert "No fault (baseline run)" in html
    assert "no fault in this run" in html
    assert "No fault in this run: a baseline run of 300 operations" in html
    assert html.count('src="data:image/png;base64,') == 2
    svg = (out / "charts" / "0001.svg").read_text()
    assert "Failure Injection" not in svg and "Baseline" in svg
    assert "Failure Injection" in (out / "charts" / "0002.svg").read_text()
    assert "p95" in html and "Baseline runs: no fault in the run" in html


def test_strict_keeps_the_refusal(tmp_path, capsys):
    out = tmp_path / "out"
    assert run(baseline_study(tmp_path), "-o", out, "-q", "--strict") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "workload 1 (Authenticate.keystone): no fault" in err
    assert "--strict refuses baseline-only runs" in err
    assert not out.exists()


def test_bad_outline_is_reported(study_file, tmp_path, capsys):
    outline = tmp_path / "outline.yaml"
    outline.write_text("- just\n- a list\n")
    assert run(study_file, "-o", tmp_path / "o", "--outline", outline) == 1
    assert "outline must be a mapping" in capsys.readouterr().err
