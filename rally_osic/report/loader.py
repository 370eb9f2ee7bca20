"""Read Rally results one workload at a time.

Accepts ``rally task report --json`` output (format 1.2, a mapping with
``info`` and ``tasks``) and the older ``rally task results`` list. Large
1.2 files are streamed with ijson, so memory holds one workload at a time.
Every problem is raised as :class:`ReportInputError` naming the file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from collections.abc import Iterator
from typing import Any

from rally_osic.report.errors import ReportInputError

WORKLOAD_PREFIX = "tasks.item.subtasks.item.workloads.item"
TASK_PREFIX = "tasks.item"
SUBTASK_PREFIX = "tasks.item.subtasks.item"
TASK_KEYS = (
    "uuid",
    "title",
    "description",
    "status",
    "env_uuid",
    "env_name",
    "created_at",
    "updated_at",
    "pass_sla",
)
SUPPORTED_FORMATS = ("1.0", "1.1", "1.2")


@dataclasses.dataclass
class TaskInfo:
    uuid: str = ""
    title: str = ""
    description: str = ""
    status: str = ""
    env_uuid: str = ""
    env_name: str = ""
    created_at: str = ""
    updated_at: str = ""
    pass_sla: bool | None = None
    source: str = ""
    rally_version: str = ""


@dataclasses.dataclass
class LoadedWorkload:
    """A workload in the JSON 1.2 shape, with where it came from."""

    task: TaskInfo
    subtask_title: str
    workload: dict[str, Any]
    source: str
    number: int  # position in its file, 1-based, for error messages

    @property
    def where(self) -> str:
        return f"{self.source}: workload {self.number}"


def expand_paths(paths: list[str]) -> list[pathlib.Path]:
    """Files as given, and the ``*.json`` files of given folders, sorted."""
    found: list[pathlib.Path] = []
    for name in paths:
        path = pathlib.Path(name)
        if path.is_dir():
            files = sorted(p for p in path.glob("*.json") if p.is_file())
            if not files:
                raise ReportInputError(f"{path}: folder has no *.json files")
            found.extend(files)
        elif path.is_file():
            found.append(path)
        else:
            raise ReportInputError(f"{path}: no such file or folder")
    return found


def iter_workloads(path: pathlib.Path) -> Iterator[LoadedWorkload]:
    """Workloads of one results file, validated, in file order."""
    source = str(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise ReportInputError(
            f"{source}: cannot read: {exc.strerror}"
        ) from None
    with handle:
        first = _first_byte(handle, source)
        handle.seek(0)
        if first == b"[":
            yield from _old_format(handle, source)
        elif first == b"{":
            yield from _stream_format_1_2(handle, source)
        else:
            raise ReportInputError(
                f"{source}: not JSON (expected Rally results, "
                "from 'rally task report --json')"
            )


def _first_byte(handle, source: str) -> bytes:
    while True:
        byte = handle.read(1)
        if not byte:
            raise ReportInputError(f"{source}: file is empty")
        if not byte.isspace():
            return byte


def _stream_format_1_2(handle, source: str) -> Iterator[LoadedWorkload]:
    try:
        import ijson
    except ImportError:  # pragma: no cover - ijson is a dependency
        yield from _whole_format_1_2(handle, source)
        return
    from ijson.common import ObjectBuilder

    task = None
    subtask_title = ""
    builder = None
    number = 0
    info: dict[str, Any] = {}
    saw_tasks = False
    try:
        for prefix, event, value in ijson.parse(handle, use_float=True):
            if builder is not None:
                builder.event(event, value)
                if prefix == WORKLOAD_PREFIX and event == "end_map":
                    number += 1
                    _check_format(info, source)
                    workload = builder.value
                    builder = None
                    yield _loaded(
                        task, subtask_title, workload, source, number
                    )
                continue
            if prefix == WORKLOAD_PREFIX and event == "start_map":
                builder = ObjectBuilder()
                builder.event(event, value)
            elif prefix == TASK_PREFIX and event == "start_map":
                task = TaskInfo(
                    source=source,
                    rally_version=str(info.get("rally_version", "")),
                )
            elif prefix == "tasks" and event == "start_array":
                saw_tasks = True
            elif prefix.startswith("info.") and event in ("string", "number"):
                info[prefix[5:]] = value
            elif prefix == SUBTASK_PREFIX + ".title" and event == "string":
                subtask_title = value
            elif task is not None and prefix.startswith(TASK_PREFIX + "."):
                key = prefix[len(TASK_PREFIX) + 1 :]
                if key in TASK_KEYS and event in ("string", "boolean"):
                    setattr(task, key, value)
    except ijson.common.IncompleteJSONError as exc:
        raise ReportInputError(
            f"{source}: truncated or invalid JSON ({_short(exc)})"
        ) from None
    except ijson.common.JSONError as exc:
        raise ReportInputError(
            f"{source}: invalid JSON ({_short(exc)})"
        ) from None
    if not saw_tasks:
        raise ReportInputError(
            f"{source}: not Rally results: no 'tasks' list (expected the "
            "output of 'rally task report --json')"
        )
    _check_format(info, source)
    if number == 0:
        raise ReportInputError(f"{source}: no workloads in the results")


def _whole_format_1_2(handle, source: str) -> Iterator[LoadedWorkload]:
    document = _load_json(handle, source)
    if not isinstance(document.get("tasks"), list):
        raise ReportInputError(f"{source}: not Rally results: no 'tasks'")
    _check_format(document.get("info") or {}, source)
    number = 0
    version = str((document.get("info") or {}).get("rally_version", ""))
    for task_doc in document["tasks"]:
        task = TaskInfo(source=source, rally_version=version)
        for key in TASK_KEYS:
            if key in task_doc:
                setattr(task, key, task_doc[key])
        for subtask in task_doc.get("subtasks") or []:
            for workload in subtask.get("workloads") or []:
                number += 1
                yield _loaded(
                    task, subtask.get("title", ""), workload, source, number
                )
    if number == 0:
        raise ReportInputError(f"{source}: no workloads in the results")


def _check_format(info: dict[str, Any], source: str) -> None:
    version = str(info.get("format_version", ""))
    if version and version not in SUPPORTED_FORMATS:
        raise ReportInputError(
            f"{source}: unsupported Rally JSON format_version {version} "
            f"(supported: {', '.join(SUPPORTED_FORMATS)})"
        )


def _loaded(task, subtask_title, workload, source, number) -> LoadedWorkload:
    if task is None:
        task = TaskInfo(source=source)
    where = f"{source}: workload {number}"
    if not isinstance(workload, dict):
        raise ReportInputError(f"{where}: not an object")
    validate_workload(workload, where)
    return LoadedWorkload(task, subtask_title, workload, source, number)


def validate_workload(workload: dict[str, Any], where: str) -> None:
    """The fields the report needs, with the right types."""
    scenario = workload.get("scenario")
    if not isinstance(scenario, dict) or len(scenario) != 1:
        raise ReportInputError(f"{where}: 'scenario' must be {{name: args}}")
    data = workload.get("data")
    if not isinstance(data, list):
        raise ReportInputError(f"{where}: no 'data' list of iterations")
    if not data:
        name = next(iter(scenario))
        raise ReportInputError(f"{where} ({name}): has no iterations")
    for index, iteration in enumerate(data, 1):
        if (
            not isinstance(iteration, dict)
            or not isinstance(iteration.get("timestamp"), int | float)
            or not isinstance(iteration.get("duration"), int | float | None)
        ):
            raise ReportInputError(
                f"{where}: iteration {index} lacks a numeric 'timestamp' "
                "and 'duration'"
            )
    for key in ("hooks", "sla_results"):
        value = workload.get(key)
        if value is not None and not isinstance(value, list | dict):
            raise ReportInputError(f"{where}: '{key}' has the wrong type")


def _old_format(handle, source: str) -> Iterator[LoadedWorkload]:
    """``rally task results``: a list of {key, result, sla, hooks, ...}."""
    document = _load_json(handle, source)
    if not document:
        raise ReportInputError(f"{source}: no workloads in the results")
    task = TaskInfo(source=source, title=pathlib.Path(source).stem)
    for number, entry in enumerate(document, 1):
        where = f"{source}: workload {number}"
        if not isinstance(entry, dict) or not isinstance(
            entry.get("key"), dict
        ):
            raise ReportInputError(
                f"{where}: not Rally results (expected 'key' and 'result')"
            )
        key = entry["key"]
        if not isinstance(entry.get("result"), list) or "name" not in key:
            raise ReportInputError(
                f"{where}: not Rally results (expected 'key' and 'result')"
            )
        workload = convert_old_entry(entry)
        task.pass_sla = all(s.get("success") for s in entry.get("sla") or [])
        yield _loaded(task, "", workload, source, number)


def convert_old_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An old ``rally task results`` entry in the JSON 1.2 workload shape."""
    key = entry["key"]
    kw = key.get("kw") or {}
    runner = kw.get("runner") or {}
    runner_type = runner.get("type", "unknown")
    hooks = []
    for hook in entry.get("hooks") or []:
        config = dict(hook.get("config") or {})
        for part in ("action", "trigger"):
            value = config.get(part)
            if isinstance(value, list | tuple) and len(value) == 2:
                config[part] = {value[0]: value[1]}
        hooks.append(
            {
                "config": config,
                "results": hook.get("results") or [],
                "summary": hook.get("summary") or {},
            }
        )
    sla_results = entry.get("sla") or []
    data = entry["result"]
    return {
        "uuid": key.get("uuid") or f"{key['name']}-{key.get('pos', 0)}",
        "description": key.get("description", ""),
        "scenario": {key["name"]: kw.get("args") or {}},
        "runner": {
            runner_type: {k: v for k, v in runner.items() if k != "type"}
        },
        "contexts": kw.get("context") or kw.get("contexts") or {},
        "hooks": hooks,
        "sla": kw.get("sla") or {},
        "sla_results": {"sla": sla_results},
        "pass_sla": all(s.get("success") for s in sla_results),
        "data": data,
        "position": key.get("pos", 0),
        "start_time": min(
            (it.get("timestamp", 0) for it in data if isinstance(it, dict)),
            default=None,
        ),
        "load_duration": entry.get("load_duration"),
        "full_duration": entry.get("full_duration"),
        "created_at": entry.get("created_at", ""),
    }


def _load_json(handle, source: str) -> Any:
    raw = handle.read()
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise ReportInputError(
            f"{source}: not JSON (not UTF-8 text)"
        ) from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(raw.rstrip()) - 1:
            raise ReportInputError(
                f"{source}: truncated JSON (ends at byte {len(raw)})"
            ) from None
        raise ReportInputError(
            f"{source}: invalid JSON at line {exc.lineno} column "
            f"{exc.colno}: {exc.msg}"
        ) from None


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def file_size(path: pathlib.Path) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
