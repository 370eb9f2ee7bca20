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
import gzip
import io
import json
import os
import pathlib
import re
import zlib
from collections.abc import Iterator
from typing import Any, NoReturn

from rally_osic.output import (
    TEXT_LIMIT,
    TITLE_LIMIT,
    UNSAFE_CHARS,
    clean_chars,
    shorten,
)
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
    """Files as given, and the ``*.json`` and ``*.json.gz`` files of given
    folders, sorted."""
    found: list[pathlib.Path] = []
    for name in paths:
        path = pathlib.Path(name)
        if path.is_dir():
            files = sorted(
                p
                for pattern in ("*.json", "*.json.gz")
                for p in path.glob(pattern)
                if p.is_file()
            )
            if not files:
                raise ReportInputError(
                    f"{path}: folder has no *.json or *.json.gz files"
                )
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
        if handle.read(2) == GZIP_MAGIC:
            handle.seek(0)
            # Results may be stored gzipped (the committed samples are).
            with gzip.GzipFile(fileobj=handle, mode="rb") as unzipped:
                try:
                    yield from _workloads(unzipped, source)
                except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                    raise ReportInputError(
                        f"{source}: damaged gzip file ({_short(exc)})"
                    ) from None
        else:
            handle.seek(0)
            yield from _workloads(handle, source)


def _workloads(handle, source: str) -> Iterator[LoadedWorkload]:
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
    """The first byte that is not space, after a UTF-8 byte order mark
    (which Windows editors write; the decoders below skip it)."""
    if handle.read(3) != BOM:
        handle.seek(0)
    while True:
        byte = handle.read(1)
        if not byte:
            raise ReportInputError(f"{source}: file is empty")
        if not byte.isspace():
            return byte


CHUNK = 1 << 22  # characters read at a time when streaming
BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"


class _Stream:
    """The outer JSON structure, walked by hand; each value the walk does
    not descend into (a workload, the ``info`` object, a task key) is
    decoded whole by the C scanner of :mod:`json`, so memory holds one
    workload and the per-token work is done in C."""

    _space = re.compile(r"[ \t\n\r]*")

    def __init__(self, handle, source: str) -> None:
        self.handle = io.TextIOWrapper(handle, encoding="utf-8-sig")
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
        except RecursionError:
            self.fail(TOO_DEEP, False)
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
                k: bound_text(v) if isinstance(v, str) else v
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
                            if isinstance(value, str):
                                limit = (
                                    TEXT_LIMIT
                                    if task_key == "description"
                                    else TITLE_LIMIT
                                )
                                value = shorten(bound_text(value), limit)
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
                                    subtask_title = shorten(
                                        bound_text(value), TITLE_LIMIT
                                    )
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


MAX_DEPTH = 64  # nesting of a workload; Rally's own stay under 10
MAX_STRING = 65536  # characters of one string; the rest is cut off
MAX_TIMESTAMP = 1e10  # epoch seconds: the year 2286
MAX_DURATION = 1e6  # seconds of one iteration: 11.6 days
TOO_DEEP = "nested too deeply"


def validate_workload(workload: dict[str, Any], where: str) -> None:
    """The fields the report needs, with the right types and values; then
    every string bounded and sanitised (:func:`bound_strings`)."""
    scenario = workload.get("scenario")
    if (
        not isinstance(scenario, dict)
        or len(scenario) != 1
        or not isinstance(next(iter(scenario.values())), dict | None)
    ):
        raise ReportInputError(f"{where}: 'scenario' must be {{name: args}}")
    data = workload.get("data")
    if not isinstance(data, list):
        raise ReportInputError(f"{where}: no 'data' list of iterations")
    for index, iteration in enumerate(data, 1):
        _check_iteration(iteration, f"{where}: iteration {index}")
    for key, kind in (("hooks", list), ("sla", dict), ("contexts", dict)):
        value = workload.get(key)
        if value is not None and not isinstance(value, kind):
            raise ReportInputError(f"{where}: '{key}' has the wrong type")
    sla_results = workload.get("sla_results")
    if isinstance(sla_results, dict):  # Rally's {"sla": [...]}
        sla_results = sla_results.get("sla")
    if sla_results is not None and not isinstance(sla_results, list):
        raise ReportInputError(f"{where}: 'sla_results' has the wrong type")
    for number, hook in enumerate(workload.get("hooks") or [], 1):
        _check_hook(hook, f"{where}: hook {number}")
    for name, config in (workload.get("sla") or {}).items():
        if str(name).startswith("fault_") and not isinstance(config, dict):
            raise ReportInputError(
                f"{where}: SLA {name!r} must be an object of settings"
            )
    bound_strings(workload, where)


def _check_iteration(iteration: Any, where: str) -> None:
    if not isinstance(iteration, dict):
        raise ReportInputError(f"{where}: not an object")
    for key in ("timestamp", "duration"):
        if key not in iteration:
            raise ReportInputError(f"{where} has no '{key}'")
    timestamp = iteration["timestamp"]
    duration = iteration["duration"]
    if not _is_number(timestamp):
        raise ReportInputError(
            f"{where}: 'timestamp' must be a number, not {timestamp!r:.40}"
        )
    if duration is not None and not _is_number(duration):
        raise ReportInputError(
            f"{where}: 'duration' must be a number, not {duration!r:.40}"
        )
    if not 0 <= timestamp <= MAX_TIMESTAMP:  # NaN fails too
        raise ReportInputError(
            f"{where}: 'timestamp' {timestamp!r} is not a time (epoch seconds)"
        )
    if duration is not None and not 0 <= duration <= MAX_DURATION:
        raise ReportInputError(
            f"{where}: 'duration' {duration!r} is "
            + ("negative" if duration < 0 else "not a duration in seconds")
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_hook(hook: Any, where: str) -> None:
    if not isinstance(hook, dict):
        raise ReportInputError(f"{where}: not an object")
    for key, kind in (("config", dict), ("results", list), ("summary", dict)):
        value = hook.get(key)
        if value is not None and not isinstance(value, kind):
            raise ReportInputError(f"{where}: '{key}' has the wrong type")
    for result in hook.get("results") or []:
        if not isinstance(result, dict):
            raise ReportInputError(f"{where}: a result is not an object")


def bound_text(text: str) -> str:
    """``text`` cut to :data:`MAX_STRING` characters, with unsafe
    characters (controls, bidirectional overrides, lone surrogates) shown
    as escapes such as ``\\x1b``."""
    if len(text) > MAX_STRING:
        cut = len(text) - MAX_STRING
        text = f"{text[:MAX_STRING]}… [{cut} more characters]"
    if UNSAFE_CHARS.search(text):
        text = clean_chars(text)
    return text


def bound_strings(value: Any, where: str) -> None:
    """Bound and sanitise, in place, every string in ``value`` (keys too),
    once, as results are loaded, so that no output meets a megabyte error
    message or a NUL; refuse nesting deeper than :data:`MAX_DEPTH`.
    Iterative: the nesting cannot exhaust the stack."""
    stack = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ReportInputError(
                f"{where}: {TOO_DEEP} (over {MAX_DEPTH} levels)"
            )
        if isinstance(container, dict):
            renamed = [
                k
                for k in container
                if isinstance(k, str)
                and (len(k) > MAX_STRING or UNSAFE_CHARS.search(k))
            ]
            for key in renamed:
                container[bound_text(key)] = container.pop(key)
            items = container.items()
        else:
            items = enumerate(container)
        for key, item in items:
            kind = type(item)
            if kind is str:
                if len(item) > MAX_STRING or UNSAFE_CHARS.search(item):
                    container[key] = bound_text(item)
            elif (kind is dict or kind is list) and item:
                stack.append((item, depth + 1))


def _old_format(handle, source: str) -> Iterator[LoadedWorkload]:
    """``rally task results``: a list of {key, result, sla, hooks, ...}."""
    document = _load_json(handle, source)
    if not document:
        raise ReportInputError(f"{source}: no workloads in the results")
    task = TaskInfo(source=source, title=pathlib.Path(source).stem)
    for number, entry in enumerate(document, 1):
        where = f"{source}: workload {number}"
        key = entry.get("key") if isinstance(entry, dict) else None
        if (
            not isinstance(key, dict)
            or not isinstance(entry.get("result"), list)
            or not isinstance(key.get("name"), str)
        ):
            raise ReportInputError(
                f"{where}: not Rally results (expected 'key' and 'result')"
            )
        workload = convert_old_entry(entry)
        task.pass_sla = workload["pass_sla"]
        yield _loaded(task, "", workload, source, number)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def convert_old_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An old ``rally task results`` entry in the JSON 1.2 workload shape.

    Parts of the wrong type are dropped here; the workload then passes
    :func:`validate_workload` like any other."""
    key = entry["key"]
    kw = _mapping(key.get("kw"))
    runner = _mapping(kw.get("runner"))
    runner_type = str(runner.get("type", "unknown"))
    hooks = []
    for hook in _sequence(entry.get("hooks")):
        hook = _mapping(hook)
        config = dict(_mapping(hook.get("config")))
        for part in ("action", "trigger"):
            value = config.get(part)
            if isinstance(value, list | tuple) and len(value) == 2:
                config[part] = {str(value[0]): value[1]}
        hooks.append(
            {
                "config": config,
                "results": [r for r in _sequence(hook.get("results")) if r],
                "summary": _mapping(hook.get("summary")),
            }
        )
    sla_results = [r for r in _sequence(entry.get("sla")) if r]
    data = entry["result"]
    starts = [
        it["timestamp"]
        for it in data
        if isinstance(it, dict) and _is_number(it.get("timestamp"))
    ]
    return {
        "uuid": str(key.get("uuid") or f"{key['name']}-{key.get('pos', 0)}"),
        "description": key.get("description", ""),
        "scenario": {key["name"]: _mapping(kw.get("args"))},
        "runner": {
            runner_type: {k: v for k, v in runner.items() if k != "type"}
        },
        "contexts": _mapping(kw.get("context") or kw.get("contexts")),
        "hooks": hooks,
        "sla": _mapping(kw.get("sla")),
        "sla_results": {"sla": sla_results},
        "pass_sla": all(
            isinstance(r, dict) and r.get("success") for r in sla_results
        ),
        "data": data,
        "position": key.get("pos", 0),
        "start_time": min(starts, default=None),
        "load_duration": entry.get("load_duration"),
        "full_duration": entry.get("full_duration"),
        "created_at": entry.get("created_at", ""),
    }


def _load_json(handle, source: str) -> Any:
    raw = handle.read()
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ReportInputError(
            f"{source}: not JSON (not UTF-8 text)"
        ) from None
    except RecursionError:
        raise ReportInputError(
            f"{source}: invalid JSON ({TOO_DEEP})"
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
