import json

import pytest

from rally_osic.report import loader
from rally_osic.report.errors import ReportInputError
from tests.unit.report import factory


def load_all(path):
    return list(loader.iter_workloads(path))


def test_reads_format_1_2_with_task_metadata(write_json):
    path = write_json(factory.document(factory.study_workloads()))
    loaded = load_all(path)
    assert len(loaded) == 5
    assert loaded[0].task.uuid == "0fa17000-0000-4000-8000-000000000001"
    assert loaded[0].task.env_name == "lab"
    assert loaded[0].task.rally_version == "5.1.1"
    assert loaded[0].subtask_title == "fault tests"
    assert len(loaded[0].workload["data"]) == 300


def test_reads_old_results_list(write_json):
    path = write_json(factory.old_format(factory.study_workloads()[:2]))
    loaded = load_all(path)
    assert [next(iter(w.workload["scenario"])) for w in loaded] == [
        "Authenticate.keystone"
    ] * 2
    assert loaded[0].workload["hooks"][0]["config"]["action"]


def test_accepts_both_shapes_of_failed_hook_error(write_json):
    workload = factory.fault_workload(hook="fault_injection")
    workload["hooks"][0]["results"][0].update(
        status="failed",
        error={"etype": "OSFError", "msg": "boom", "details": ""},
    )
    other = factory.fault_workload(hook="fault_injection", seed=2)
    other["hooks"][0]["results"][0].update(
        status="failed", error=["OSFError", "boom", "tb"]
    )
    assert len(load_all(write_json(factory.document([workload, other])))) == 2


def test_folder_is_expanded_sorted(tmp_path, write_json):
    write_json(factory.document(factory.study_workloads()[:1]), "b.json")
    write_json(factory.document(factory.study_workloads()[1:2]), "a.json")
    assert [p.name for p in loader.expand_paths([str(tmp_path)])] == [
        "a.json",
        "b.json",
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "file is empty"),
        (b"hello", "not JSON"),
        (b'{"info": {}, "tasks": [{"uuid": "x", "subtasks": [', "truncated"),
        (b'{"something": "else"}', "no 'tasks' list"),
        (b"[1, 2]", "not Rally results"),
        (
            b'{"info": {"format_version": "9.9"}, "tasks": []}',
            "unsupported Rally JSON format_version 9.9",
        ),
        (b'{"info": {}, "tasks": []}', "no workloads"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ReportInputError) as error:
        load_all(path)
    text = str(error.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_truncated_real_file_names_the_problem(tmp_path, write_json):
    path = write_json(factory.document(factory.study_workloads()))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ReportInputError, match="truncated"):
        load_all(path)


def test_workload_without_iterations_loads(write_json):
    """Rally ran none (a context failed): a run to show as failed, not a
    malformed file."""
    workload = factory.fault_workload()
    workload["data"] = []
    path = write_json(factory.document([workload]))
    (loaded,) = load_all(path)
    assert loaded.workload["data"] == []


def test_iteration_without_timestamp(write_json):
    workload = factory.fault_workload()
    del workload["data"][3]["timestamp"]
    path = write_json(factory.document([workload]))
    with pytest.raises(
        ReportInputError, match="iteration 4 has no .timestamp"
    ):
        load_all(path)


def test_old_format_entry_without_result(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps([{"key": {"name": "X.y"}}]))
    with pytest.raises(ReportInputError, match="workload 1: not Rally"):
        load_all(path)


def test_missing_path():
    with pytest.raises(ReportInputError, match="no such file or folder"):
        loader.expand_paths(["/nonexistent/results.json"])


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_streaming_across_chunk_boundaries(tmp_path, monkeypatch, chunk):
    """Workloads, numbers and strings split between reads decode whole,
    and each workload keeps its own task and subtask."""
    first = factory.document(factory.study_workloads()[:2])
    second = factory.document(
        factory.study_workloads()[2:3], task_uuid="t2", title="Second"
    )
    first["tasks"][0]["subtasks"].append(
        {
            "title": "more",
            "workloads": second["tasks"][0]["subtasks"][0]["workloads"],
        }
    )
    first["tasks"].append(dict(second["tasks"][0], subtasks=[]))
    first["tasks"][0]["subtasks"][0]["workloads"][0]["load_duration"] = (
        123456.789012
    )
    path = tmp_path / "results.json"
    path.write_text(json.dumps(first, indent=2))
    monkeypatch.setattr(loader, "CHUNK", chunk)
    loaded = load_all(path)
    expected = [
        w for s in first["tasks"][0]["subtasks"] for w in s["workloads"]
    ]
    assert [w.workload for w in loaded] == expected
    assert [w.subtask_title for w in loaded] == [
        "fault tests",
        "fault tests",
        "more",
    ]
    assert {w.task.uuid for w in loaded} == {
        "0fa17000-0000-4000-8000-000000000001"
    }
    assert [w.number for w in loaded] == [1, 2, 3]


def test_invalid_json_inside_a_workload(tmp_path, write_json, monkeypatch):
    path = write_json(factory.document(factory.study_workloads()[:2]))
    raw = path.read_text()
    cut = raw.index('"data"', raw.index('"workloads"') + 2000)
    path.write_text(raw[:cut] + '"data": [}, ' + raw[cut + 8 :])
    monkeypatch.setattr(loader, "CHUNK", 512)
    with pytest.raises(ReportInputError) as error:
        load_all(path)
    assert "invalid JSON" in str(error.value)
    assert "truncated" not in str(error.value)


def test_strings_are_bounded_and_sanitised_once_at_load(write_json):
    workload = factory.fault_workload()
    workload["description"] = "x" * (loader.MAX_STRING + 10)
    workload["data"][5]["error"] = [
        "Bad\x00Type\u202e",
        "message\x1b[31m",
        "tb",
    ]
    workload["contexts"] = {"k\x07ey": ["v\ud800"]}
    loaded = load_all(write_json(factory.document([workload])))[0].workload
    assert loaded["description"] == (
        "x" * loader.MAX_STRING + "… [10 more characters]"
    )
    assert loaded["data"][5]["error"][:2] == [
        "Bad\\x00Type\\u202e",
        "message\\x1b[31m",
    ]
    assert loaded["contexts"] == {"k\\x07ey": ["v\\ud800"]}


def test_utf8_bom_is_skipped(tmp_path):
    path = tmp_path / "bom.json"
    text = json.dumps(factory.document(factory.study_workloads()[:1]))
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert len(load_all(path)) == 1
    old = tmp_path / "old.json"
    text = json.dumps(factory.old_format(factory.study_workloads()[:1]))
    old.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert len(load_all(old)) == 1


def test_gzipped_results_read_as_the_plain_file(tmp_path, write_json):
    import gzip

    plain = write_json(factory.document(factory.study_workloads()[:2]))
    packed = tmp_path / "packed.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    old = tmp_path / "old.json.gz"
    old.write_bytes(
        gzip.compress(
            json.dumps(
                factory.old_format(factory.study_workloads()[:1])
            ).encode()
        )
    )
    assert [w.workload for w in load_all(packed)] == [
        w.workload for w in load_all(plain)
    ]
    assert len(load_all(old)) == 1
    names = [p.name for p in loader.expand_paths([str(tmp_path)])]
    assert "packed.json.gz" in names and "old.json.gz" in names


@pytest.mark.parametrize("keep", [10, 200, -8])
def test_a_damaged_gzip_is_one_clear_error(tmp_path, write_json, keep):
    import gzip

    plain = write_json(factory.document(factory.study_workloads()[:1]))
    packed = gzip.compress(plain.read_bytes())
    path = tmp_path / "damaged.json.gz"
    path.write_bytes(packed[:keep])
    with pytest.raises(ReportInputError) as caught:
        load_all(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)
