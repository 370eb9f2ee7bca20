import html.parser
import xml.etree.ElementTree as ElementTree

import pytest

from rally_osic.report import loader, outline, render, study
from rally_osic.report.errors import ReportInputError
from tests.unit.report import factory


def build(path, **kwargs):
    kwargs.setdefault("chart_formats", ())
    kwargs.setdefault("workers", 1)
    return study.build_study(loader.iter_workloads(path), **kwargs)


def test_runs_are_grouped_into_tests_by_service(study_file):
    result = build(study_file)
    assert [
        (t.number, t.service, t.fault, len(t.runs)) for t in result.tests
    ] == [
        ("1.1", "Keystone", "Kill memcached service on one node", 2),
        ("1.2", "Keystone", "Restart MySQL service on one node", 1),
        ("2.1", "Neutron", "Kill neutron-server service on one node", 1),
        ("3.1", "Glance", "Restart glance-api service on one node", 1),
    ]
    assert [r.number for r in result.tests[0].runs] == [1, 2]
    assert [s.name for s in result.services] == [
        "Keystone",
        "Neutron",
        "Glance",
    ]
    assert len(result.live_migration) == 2


def test_findings_follow_the_whitepaper_error_types(study_file):
    result = build(study_file)
    findings = {t.number: t.findings for t in result.tests}
    assert "transient_failures" in findings["1.1"]
    assert "degradation" in findings["1.2"]
    # The hook gives no came_back here: the load's evidence alone.
    assert {
        "not_back_to_baseline",
        "growing_baseline",
        "resource_limit",
    } <= set(findings["2.1"])
    assert "needed_restart" not in findings["2.1"]
    assert findings["3.1"][0] == "no_effect"
    assert result.tests_passed == 2


def test_workload_without_fault_is_rejected_when_strict(write_json):
    workload = factory.fault_workload(hook=None, sla_fault_at=False)
    path = write_json(factory.document([workload]))
    with pytest.raises(ReportInputError, match="workload 1 .*: no fault"):
        build(path, strict=True)


def test_workload_without_fault_is_a_baseline_run(write_json):
    """Its figures are those of the whole run, checked against the data:
    latency percentiles of the successful calls, the growing trend."""
    import numpy as np

    workload = factory.fault_workload(
        hook=None,
        sla_fault_at=False,
        outage=None,
        degraded=None,
        growing=True,
    )
    path = write_json(factory.document([workload]))
    (test,) = build(path).tests
    (run,) = test.runs
    assert run.input.baseline_only and test.fault == "No fault (baseline run)"
    durations = np.array(
        [it["duration"] for it in workload["data"] if not it["error"]]
    )
    latency = run.result.latency
    assert latency["mean"] == pytest.approx(durations.mean())
    assert latency["p95"] == pytest.approx(np.percentile(durations, 95))
    assert latency["max"] == pytest.approx(durations.max())
    assert run.result.findings == ["baseline_only", "growing_baseline"]
    assert run.result.verdicts == [] and run.passed
    assert run.result.baseline.samples == len(durations)
    assert "Durations grew during the run" in " ".join(run.result.commentary)
    assert test.summary().startswith("1 run without a fault; latency p95")


class Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []
        self.attributes = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend(name for name, _ in attrs)


def test_html_escapes_everything_from_results(write_json, tmp_path):
    workload = factory.fault_workload(
        error=(
            "Boom<script>",
            "<script>alert(1)</script><img src=x onerror=alert(2)>",
        ),
        description="<img src=x onerror=alert(3)>",
        label="Kill <b>memcached</b>",
    )
    path = write_json(factory.document([workload], title="<script>x</script>"))
    html = render.render_html(build(path, chart_formats=("png",)))
    collector = Collector()
    collector.feed(html)
    assert "script" not in collector.tags
    assert "onerror" not in collector.attributes
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Kill &lt;b&gt;memcached&lt;/b&gt;" in html
    assert "hunter2-secret" not in html
    assert collector.tags.count("img") == 1


def test_html_has_the_whitepaper_sections(study_file, tmp_path):
    outline_file = tmp_path / "outline.yaml"
    outline_file.write_text(
        "title: My study\nintroduction: |\n  First paragraph.\n\n  Second.\n"
        "conclusion: All good.\ntests:\n"
        "  'Authenticate.keystone: Kill memcached service on one node': "
        "Memcached prose.\n  '2.1': Neutron prose.\n"
        "services:\n  Glance: Glance prose.\n"
    )
    metadata = {"cloud": "22 nodes", "admin": {"password": "topsecret"}}
    result = build(
        study_file,
        outline=outline.load_outline(str(outline_file)),
        metadata=metadata,
    )
    html = render.render_html(result)
    for heading in (
        "Executive summary",
        "Introduction",
        "Environment",
        "Test tools and method",
        "Tested scenarios",
        "Results – the graphs",
        "Results – summary",
        "Failed to recover: needed a restart",
        "Performance not back to baseline",
        "Run too short to judge recovery",
        "Transient failures after the fault",
        "Unexpected or unexplained anomalies",
        "Tested scenarios – graph results",
        "Live migration",
        "Summary",
        "Appendix – SLA details",
    ):
        assert f">{heading}<" in html, heading
    for prose in (
        "First paragraph.",
        "Second.",
        "All good.",
        "Memcached prose.",
        "Neutron prose.",
        "Glance prose.",
        "22 nodes",
    ):
        assert prose in html
    assert "topsecret" not in html
    assert "2 of 4 tests passed" in html
    assert "240/240" in html


def test_junit_has_one_case_per_run_and_criterion(study_file):
    result = build(study_file)
    root = ElementTree.fromstring(render.junit_xml(result))
    cases = root.findall(".//testcase")
    assert len(cases) == 5 * 2
    assert root.get("tests") == "10"
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert int(root.get("failures")) == len(failed) > 0


def test_junit_falls_back_to_report_recovery(write_json):
    workload = factory.fault_workload(sla_fault_at=False)
    path = write_json(factory.document([workload]))
    root = ElementTree.fromstring(render.junit_xml(build(path)))
    (case,) = root.findall(".//testcase")
    assert case.get("name") == "run 1: fault_recovery (report default)"


def test_write_atomic_replaces_without_leftovers(tmp_path):
    from rally_osic.files import write_atomic

    target = tmp_path / "out.html"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.html"]


@pytest.mark.parametrize(
    "error, limit",
    [
        ("QuotaExceeded: Quota exceeded for instances: Requested 1", True),
        ("OverLimit: Over limit (HTTP 413)", True),
        ("No valid host was found. There are not enough hosts", True),
        ("Maximum number of ports exceeded the limit", True),
        ("OSError: [Errno 24] Too many open files", True),
        (
            "ConnectFailure: Unable to establish connection to "
            "http://127.0.0.1:15000/v3: HTTPConnectionPool(host='127.0.0.1'"
            ", port=15000): Max retries exceeded with url: /v3",
            False,
        ),
        ("TimeoutException: Rally tired waiting 300 s (exceeded)", False),
    ],
)
def test_resource_limit_is_read_from_the_words_of_a_limit(error, limit):
    # A killed API refuses connections; requests then says "Max retries
    # exceeded", which once made every outage a "probable quota" finding.
    from rally_osic.report.runs import QUOTA_WORDS

    assert bool(QUOTA_WORDS.search(error)) is limit


def _subtask_document(titled_workloads):
    """One subtask per workload, titled as ``rally-osic study run`` does."""
    workloads = [w for _, w in titled_workloads]
    document = factory.document(workloads)
    (task,) = document["tasks"]
    (template,) = task["subtasks"]
    task["subtasks"] = [
        {**template, "title": title, "workloads": [workload]}
        for title, workload in titled_workloads
    ]
    return document


def test_a_catalogue_study_keeps_the_study_numbers_and_titles(write_json):
    def titled(number, title, scenario, seed):
        workload = factory.fault_workload(scenario=scenario, seed=seed)
        # 1.4 and 1.10 share a hook label, as the stress tests do.
        workload["hooks"][0]["config"]["description"] = f"hook {seed % 2}"
        return (f"{scenario}: {number} {title}", workload)

    path = write_json(
        _subtask_document(
            [
                titled("7.18", "Kill nova-conductor", "NovaServers.x", 1),
                titled("1.4", "Restart memcached", "Authenticate.keystone", 2),
                titled("1.10", "Kill mysql", "Authenticate.keystone", 3),
                titled("1.4", "Restart memcached", "Authenticate.keystone", 2),
            ]
        )
    )
    assert [(t.number, t.fault, len(t.runs)) for t in build(path).tests] == [
        ("1.4", "Restart memcached", 2),
        ("1.10", "Kill mysql", 1),
        ("7.18", "Kill nova-conductor", 1),
    ]


def test_runs_from_elsewhere_are_numbered_in_order(write_json):
    catalogued = factory.fault_workload(seed=1)
    catalogued["hooks"][0]["config"]["description"] = "hook 1"
    other = factory.fault_workload(seed=2)
    other["hooks"][0]["config"]["description"] = "hook 2"
    path = write_json(
        _subtask_document(
            [
                ("Authenticate.keystone: 1.4 Restart memcached", catalogued),
                ("fault tests", other),
            ]
        )
    )
    assert [t.number for t in build(path).tests] == ["1.1", "1.2"]
