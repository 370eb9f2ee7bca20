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
    assert names == ["charts", "fault-verdicts.xml", "report.html"]
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


def test_no_fault_and_no_iterations_errors(tmp_path, capsys):
    no_fault = tmp_path / "no-fault.json"
    no_fault.write_text(
        json.dumps(
            factory.document(
                [factory.fault_workload(hook=None, sla_fault_at=False)]
            )
        )
    )
    empty = factory.fault_workload()
    empty["data"] = []
    no_iterations = tmp_path / "empty.json"
    no_iterations.write_text(json.dumps(factory.document([empty])))
    for path, message in ((no_fault, "no fault"), (no_iterations, "no iter")):
        out = tmp_path / f"out-{path.stem}"
        assert run(path, "-o", out, "-q") == 1
        assert message in capsys.readouterr().err
        assert not out.exists()


def test_bad_outline_is_reported(study_file, tmp_path, capsys):
    outline = tmp_path / "outline.yaml"
    outline.write_text("- just\n- a list\n")
    assert run(study_file, "-o", tmp_path / "o", "--outline", outline) == 1
    assert "outline must be a mapping" in capsys.readouterr().err
