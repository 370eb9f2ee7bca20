"""Read Rally results one workload at a time.

Accepts ``rally task report --json`` output (format 1.2, a mapping with
``info`` and ``tasks``) and the older ``rally task results`` list. Large
1.2 files are streamed: the outer structure is walked by hand and each
workload decoded whole by :mod:`json`, so memory holds one workload at a
time.
Every problem is raised as :class:`ReportInputError` naming the file.
"""

from __future__ import annotations

import dataclasses
import gc
import io
import json
import os
import pathlib
import re
from collections.abc import Iterator
from typing import Any, NoReturn

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


CHUNK = 1 << 22  # characters read at a time when streaming


class _Stream:
    """The outer JSON structure, walked by hand; each value the walk does
    not descend into (a workload, the ``info`` object, a task key) is
    decoded whole by the C scanner of :mod:`json`, so memory holds one
    workload and the per-token work is done in C."""

    _space = re.compile(r"[ \t\n\r]*")

    def __init__(self, handle, source: str) -> None:
        self.handle = io.TextIOWrapper(handle, encoding="utf-8")
        self.source = source
        self.buffer = ""
        self.pos = 0
        self.eof = False
        self.largest = 0  # characters of the largest value decoded
        self.decode = json.JSONDecoder().raw_decode

    def _more(self) -> bool:
        """Read more text after the current position; False at the end.

        Reads at least twice the largest value decoded so far, so a
        workload seldom has to be decoded again after running into the
        end of the buffer."""
        if self.eof:
            return False
        size = max(CHUNK, len(self.buffer) - self.pos, 2 * self.largest)
        try:
            text = self.handle.read(size)
        except UnicodeDecodeError:
            raise ReportInputError(
                f"{self.source}: not JSON (not UTF-8 text)"
            ) from None
        if not text:
            self.eof = True
            return False
        self.buffer = self.buffer[self.pos :] + text
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-space character ('' at the end of the file)."""
        while True:
            self.pos = self._space.match(self.buffer, self.pos).end()
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._more():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            self.fail(f"expected {char!r}, found {found or 'the end'!r}")
        self.pos += 1

    def value(self) -> Any:
        self.peek()
        if len(self.buffer) - self.pos < self.largest:
            self._more()
        while True:
            try:
                value, end = self._decode()
            except json.JSONDecodeError as exc:
                near_end = exc.pos >= len(self.buffer) - 16 or (
                    exc.msg.startswith("Unterminated")
                )
                if near_end and self._more():
                    continue
                self.fail(exc.msg, near_end)
            if end >= len(self.buffer) and self._more():
                continue  # a number may go on in the next chunk
            self.largest = max(self.largest, end - self.pos)
            self.pos = end
            return value

    def _decode(self) -> tuple[Any, int]:
        """Decode the value at the current position, without the cyclic
        garbage collector: decoded JSON holds no cycles, and collections
        while a large workload is being built cost more as it grows."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self.decode(self.buffer, self.pos)
        finally:
            if enabled:
                gc.enable()

    def members(self) -> Iterator[str]:
        """Keys of the object that starts here; the caller reads each
        key's value before asking for the next key."""
        self.expect("{")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                self.fail("expected a key")
            key = self.value()
            self.expect(":")
            yield key
            separator = self.peek()
            self.pos += 1
            if separator == "}":
                return
            if separator != ",":
                self.fail(f"expected ',' or '}}', found {separator!r}")

    def elements(self) -> Iterator[None]:
        """Once per element of the array that starts here; the caller
        reads each element before asking for the next one."""
        self.expect("[")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            yield None
            separator = self.peek()
            self.pos += 1
            if separator == "]":
                return
            if separator != ",":
                self.fail(f"expected ',' or ']', found {separator!r}")

    def fail(self, message: str, truncated: bool | None = None) -> NoReturn:
        if truncated is None:
            truncated = self.peek() == ""
        if truncated:
            raise ReportInputError(
                f"{self.source}: truncated or invalid JSON ({message})"
            )
        raise ReportInputError(f"{self.source}: invalid JSON ({message})")


def _stream_format_1_2(handle, source: str) -> Iterator[LoadedWorkload]:
    stream = _Stream(handle, source)
    number = 0
    info: dict[str, Any] = {}
    saw_tasks = False
    subtask_title = ""
    for key in stream.members():
        if key == "info" and stream.peek() == "{":
            info = {
                k: v
                for k, v in stream.value().items()
                if isinstance(v, str | int | float) and not isinstance(v, bool)
            }
        elif key == "tasks" and stream.peek() == "[":
            saw_tasks = True
            for _ in stream.elements():
                if stream.peek() != "{":
                    stream.value()
                    continue
                task = TaskInfo(
                    source=source,
                    rally_version=str(info.get("rally_version", "")),
                )
                for task_key in stream.members():
                    if task_key != "subtasks" or stream.peek() != "[":
                        value = stream.value()
                        if task_key in TASK_KEYS and isinstance(
                            value, str | bool
                        ):
                            setattr(task, task_key, value)
                        continue
                    for _ in stream.elements():
                        if stream.peek() != "{":
                            stream.value()
                            continue
                        for sub_key in stream.members():
                            if sub_key != "workloads" or (
                                stream.peek() != "["
                            ):
                                value = stream.value()
                                if sub_key == "title" and isinstance(
                                    value, str
                                ):
                                    subtask_title = value
                                continue
                            for _ in stream.elements():
                                workload = stream.value()
                                if not isinstance(workload, dict):
                                    continue
                                number += 1
                                _check_format(info, source)
                                yield _loaded(
                                    task,
                                    subtask_title,
                                    workload,
                                    source,
                                    number,
                                )
        else:
            stream.value()
    if stream.peek():
        stream.fail("extra data after the results", False)
    if not saw_tasks:
        raise ReportInputError(
            f"{source}: not Rally results: no 'tasks' list (expected the "
            "output of 'rally task report --json')"
        )
    _check_format(info, source)
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
