"""``rally-osic verdicts``, and its agreement with the report: the HTML
summary, ``--strict``, the JUnit file and the CLI judge from one code
path, so they cannot disagree (synthetic Rally JSON from the factory)."""

import json
import re
import xml.etree.ElementTree as ElementTree

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rally_osic import cli
from rally_osic.report import loader, render, study
from tests.unit.report import factory


def build(path, **kwargs):
    return study.build_study(
        loader.iter_workloads(path), chart_formats=(), workers=1, **kwargs
    )


def verdicts_cli(capsys, *args):
    code = cli.main(["verdicts", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def junit_cases(result):
    root = ElementTree.fromstring(render.junit_xml(result))
    return [
        (
            case.get("name").split(": ", 1)[1].split(" ")[0],
            case.find("failure") is None,
        )
        for case in root.iter("testcase")
    ]


def test_stored_pass_is_judged_again_everywhere_alike(
    write_json, tmp_path, capsys
):
    # Rally stored "pass" (an older method, or a hand-edited file), but
    # the data never recovers: summary, --strict, JUnit and the CLI all
    # say FAIL, and the stored verdict is shown beside the new one.
    workload = factory.fault_workload(outage=(22.0, None), degraded=None)
    for result in workload["sla_results"]["sla"]:
        result["success"] = True
    workload["pass_sla"] = True
    path = write_json(factory.document([workload, factory.fault_workload()]))

    result = build(path)
    assert result.tests_passed == 0
    assert sorted(junit_cases(result)) == [
        ("fault_downtime", False),
        ("fault_downtime", False),
        ("fault_recovery", False),
        ("fault_recovery", True),
    ]
    html = render.render_html(result)
    assert "0 of 1 test passed" in html
    assert "Rally's verdict at run time (pass)" in html

    out = tmp_path / "report"
    assert cli.main(["report", str(path), "-o", str(out), "--strict"]) == 3
    capsys.readouterr()
    code, stdout, _ = verdicts_cli(capsys, path, "--json")
    assert code == 1
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert [(r["run"], r["criterion"], r["success"]) for r in rows] == [
        (1, "fault_downtime", False),
        (1, "fault_recovery", False),
        (2, "fault_downtime", False),
        (2, "fault_recovery", True),
    ]
    assert rows[1]["detail"].startswith(
        "never recovered: still failing for the last"
    )
    assert rows[1]["rally_at_run_time"] == {
        "success": True,
        "detail": "never recovered: still failing at end of run",
    }
    assert "not_back_to_baseline" in rows[1]["findings"]
    junit = (out / "fault-verdicts.xml").read_text()
    for row in rows:
        assert row["detail"].replace("±", "&#177;") in junit or (
            row["detail"] in junit
        )


@st.composite
def workloads(draw):
    fault_at = draw(st.floats(10.0, 30.0))
    outage_start = fault_at + draw(st.floats(0.0, 5.0))
    outage = draw(
        st.one_of(
            st.none(),
            st.tuples(
                st.just(outage_start),
                st.one_of(
                    st.none(), st.floats(outage_start, outage_start + 30)
                ),
            ),
        )
    )
    degraded = draw(
        st.one_of(
            st.none(),
            st.tuples(st.just(fault_at + 5), st.floats(fault_at + 5, 60)),
        )
    )
    hook = draw(st.sampled_from(["osic_fault", "fault_injection", None]))
    return factory.fault_workload(
        seed=draw(st.integers(0, 1000)),
        fault_at=fault_at,
        outage=outage,
        degraded=degraded,
        iterations=draw(st.integers(150, 400)),
        hook=hook,
        # Without a hook, the fault time is the SLA's fault_at.
        sla_fault_at=hook is None or draw(st.booleans()),
    )


@given(
    st.lists(workloads(), min_size=1, max_size=3),
    st.sampled_from([[], ["hold=3"], ["hold=20", "recovery_margin=0.5"]]),
)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_report_junit_and_cli_agree_on_generated_files(
    tmp_path_factory, capsys, runs, sets
):
    path = tmp_path_factory.mktemp("agree") / "results.json"
    path.write_text(json.dumps(factory.document(runs)))
    overrides = {
        key: json.loads(value)
        for key, value in (item.split("=") for item in sets)
    }
    result = build(path, overrides=overrides)
    code, stdout, _ = verdicts_cli(
        capsys, path, "--json", *[f"--set={item}" for item in sets]
    )
    rows = [json.loads(line) for line in stdout.splitlines()]
    cases = junit_cases(result)
    assert [(r["criterion"], r["success"]) for r in rows] == cases
    every_verdict_passes = all(success for _, success in cases)
    assert code == (0 if every_verdict_passes else 1)
    # The summary counts a run as passed when its fault verdicts pass (the
    # factory's other criteria all pass).
    html = render.render_html(result)
    match = re.search(r"(\d+) of (\d+) tests? passed", html)
    assert int(match[1]) == result.tests_passed
    assert (result.tests_passed == len(result.tests)) == every_verdict_passes


def test_needed_restart_rests_on_the_hooks_record(write_json):
    workload = factory.fault_workload(outage=(22.0, 30.0), degraded=None)
    (hook,) = workload["hooks"]
    hook["results"][0]["fault"] = {
        "triggered_at": factory.ORIGIN + 20.0,
        "effective_at": factory.ORIGIN + 22.0,
        "healthy_at": factory.ORIGIN + 30.0,
        "came_back": "restore",
        "restore_needed": True,
    }
    result = build(write_json(factory.document([workload])))
    (run,) = result.runs
    assert "needed_restart" in run.result.findings
    assert "transient_failures" in run.result.findings
    text = " ".join(run.result.commentary)
    assert "had to restart the target" in text
    assert "the load recovered only after that restart" in text


def test_process_back_but_performance_not_is_told_apart(write_json):
    workload = factory.fault_workload(
        outage=(22.0, 26.0), degraded=(26.0, 1000.0)
    )
    (hook,) = workload["hooks"]
    hook["results"][0]["fault"] = {
        "triggered_at": factory.ORIGIN + 20.0,
        "effective_at": factory.ORIGIN + 22.0,
        "healthy_at": factory.ORIGIN + 26.0,
        "came_back": "itself",
        "restore_needed": False,
    }
    (run,) = build(write_json(factory.document([workload]))).runs
    assert "not_back_to_baseline" in run.result.findings
    assert "needed_restart" not in run.result.findings
    text = " ".join(run.result.commentary)
    assert "it came back by itself" in text
    assert "the process was back, its performance was not" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "hold"], "--set 'hold': expected KEY=VALUE"),
        (["--set", "hold=-1"], "--set hold=-1: -1 is less than the minimum"),
        (["--set", "window=abc"], "--set window=abc: 'abc' is not of type"),
        (["--set", "colour=red"], "--set colour: no fault criterion has"),
    ],
)
def test_bad_settings_one_line_exit_2(study_file, capsys, args, message):
    code, stdout, stderr = verdicts_cli(capsys, study_file, *args)
    assert code == 2 and stdout == ""
    assert stderr.startswith(f"rally-osic verdicts: error: {message}")
    assert len(stderr.splitlines()) == 1


def test_bad_input_one_line_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"tasks": [')
    code, stdout, stderr = verdicts_cli(capsys, bad)
    assert code == 2 and stdout == ""
    assert stderr == (
        f"rally-osic verdicts: error: {bad}: truncated or invalid JSON "
        "(expected a key)\n"
    ) or (stderr.count("\n") == 1 and str(bad) in stderr)


def test_set_changes_the_verdict(write_json, capsys):
    # Healthy for 8 s after the outage, to the end of the run.
    workload = factory.fault_workload(
        iterations=190, outage=(22.0, 30.0), degraded=None
    )
    path = write_json(factory.document([workload]))
    code, stdout, _ = verdicts_cli(capsys, path, "--set", "max=10")
    assert code == 1 and "run too short after the fault" in stdout
    code, stdout, _ = verdicts_cli(
        capsys, path, "--set", "max=10", "--set", "hold=5"
    )
    assert code == 0, stdout
    # The hook saw the effect at +22 s; calls succeed again from +30 s.
    assert re.search(r"recovered 8\.\d s after the fault, held 5 s", stdout)
