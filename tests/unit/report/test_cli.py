import json

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


def test_no_iterations_is_an_error(tmp_path, capsys):
    empty = factory.fault_workload()
    empty["data"] = []
    no_iterations = tmp_path / "empty.json"
    no_iterations.write_text(json.dumps(factory.document([empty])))
    out = tmp_path / "out"
    assert run(no_iterations, "-o", out, "-q") == 1
    assert "has no iterations" in capsys.readouterr().err
    assert not out.exists()


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
