"""A study's folder: its plan, and every run as soon as it has finished.

::

    DIR/study.json                     the plan (tests, runs, task args)
    DIR/tasks/<number>.yaml            each test's rendered task
    DIR/runs/<number>/run-<k>.json.gz  Rally JSON of a finished run
    DIR/runs/<number>/run-<k>.failed.json
                                       a run Rally could not finish
    DIR/runs/<number>/superseded-<stamp>/
                                       runs set aside by ``--again``
    DIR/outline.yaml, DIR/report/      the report, at the end

Every file is written whole (:func:`rally_osic.files.write_atomic`), so an
interruption at any moment leaves finished runs on disk and no half file;
a run is done when one of its two files exists, and ``--resume`` skips it.
Runs are stored gzipped (a run at the study's timing is tens of MB of
JSON; ``rally-osic report`` and ``verdicts`` read them as they are).
The study writes only these names; a user's other files stay.

``--again`` runs chosen tests once more, with task args of their own (a
section whose baseline was too short, say) over those they last ran with
(with none, a test runs as it last did): their earlier runs, tasks and
logs move to ``superseded-<stamp>/`` beside the new ones, never deleted,
and the plan records the args and when.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import json
import os
import pathlib

from rally_osic.errors import CommandError
from rally_osic.files import write_atomic

PLAN = "study.json"
FORMAT = 1


class FolderError(CommandError):
    exit_code = 2


@dataclasses.dataclass(frozen=True)
class PlannedTest:
    number: str
    runs: int
    task_args: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        data: dict = {"number": self.number, "runs": self.runs}
        if self.task_args:
            data["task_args"] = self.task_args
        return data


@dataclasses.dataclass
class Plan:
    env: str
    tests: list[PlannedTest]
    task_args: dict
    variant: str | None = None
    catalogue: str | None = None  # a catalogue file other than the package's
    skipped: list[dict] = dataclasses.field(default_factory=list)
    created: str = ""
    again: list[dict] = dataclasses.field(default_factory=list)
    # The services already unhealthy when the study first ran (None: not
    # looked at yet). A resume checks every other one: a service that a
    # stopped study left down must not go unchecked.
    down_at_start: list[str] | None = None

    def run_again(self, numbers, task_args: dict) -> None:
        """Give the tests ``numbers`` these task args over those they
        were run again with before: with none, a test runs as it last
        did."""
        from rally_osic.study.catalogue import merged

        self.tests = [
            dataclasses.replace(
                test, task_args=merged(test.task_args, task_args)
            )
            if test.number in numbers
            else test
            for test in self.tests
        ]

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "env": self.env,
            "tests": [t.to_json() for t in self.tests],
            "task_args": self.task_args,
            "variant": self.variant,
            "catalogue": self.catalogue,
            "skipped": self.skipped,
            "created": self.created,
            **({"again": self.again} if self.again else {}),
            **(
                {"down_at_start": self.down_at_start}
                if self.down_at_start is not None
                else {}
            ),
        }

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not a study plan of this version")
        return cls(
            env=str(data["env"]),
            tests=[
                PlannedTest(
                    str(t["number"]),
                    int(t["runs"]),
                    dict(t.get("task_args") or {}),
                )
                for t in data["tests"]
            ],
            task_args=dict(data.get("task_args") or {}),
            variant=data.get("variant"),
            catalogue=data.get("catalogue"),
            skipped=list(data.get("skipped") or []),
            created=str(data.get("created", "")),
            again=list(data.get("again") or []),
            down_at_start=(
                None
                if data.get("down_at_start") is None
                else [str(name) for name in data["down_at_start"]]
            ),
        )


class StudyFolder:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = pathlib.Path(path)

    @property
    def plan_file(self) -> pathlib.Path:
        return self.path / PLAN

    def create(self, plan: Plan) -> None:
        """A new study: the folder must be new or empty."""
        if self.path.exists():
            if not self.path.is_dir():
                raise FolderError(f"{self.path} exists and is not a folder")
            if self.plan_file.exists():
                raise FolderError(
                    f"{self.path} already holds a study: continue it with "
                    f"--resume {self.path}"
                )
            if any(self.path.iterdir()):
                raise FolderError(
                    f"{self.path} is not empty: choose a new folder"
                )
        self.path.mkdir(parents=True, exist_ok=True)
        plan.created = plan.created or _now()
        self.save(plan)

    def save(self, plan: Plan) -> None:
        write_atomic(self.plan_file, json.dumps(plan.to_json(), indent=2))

    def load(self) -> Plan:
        try:
            text = self.plan_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FolderError(
                f"{self.path} holds no study ({PLAN} is missing)"
            ) from None
        try:
            return Plan.from_json(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise FolderError(f"{self.plan_file}: {exc}") from None

    def run_file(self, number: str, run: int) -> pathlib.Path:
        return self.path / "runs" / number / f"run-{run}.json.gz"

    def failed_file(self, number: str, run: int) -> pathlib.Path:
        return self.path / "runs" / number / f"run-{run}.failed.json"

    def task_file(self, number: str) -> pathlib.Path:
        return self.path / "tasks" / f"{number}.yaml"

    def done(self, number: str, run: int) -> bool:
        return (
            self.run_file(number, run).exists()
            or self.failed_file(number, run).exists()
        )

    def save_task(self, number: str, text: str) -> pathlib.Path:
        path = self.task_file(number)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
        return path

    def save_run(self, number: str, run: int, report: bytes) -> None:
        path = self.run_file(number, run)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, gzip.compress(report, mtime=0))

    def save_failure(self, number: str, run: int, record: dict) -> None:
        path = self.failed_file(number, run)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({**record, "at": _now()}, indent=2))

    def again(self, plan: Plan, numbers: list[str], task_args: dict) -> str:
        """Plan ``numbers`` to run again with ``task_args`` over the
        study's; their runs, tasks and logs so far move aside. The plan
        is saved first: an interruption before the move leaves runs that
        ``--again`` moves when given once more, never a run that counts
        for args it did not have. Returns the folder they moved to."""
        stamp = _now().replace(":", "").replace("+0000", "Z")
        taken = {again["at"] for again in plan.again}
        unique, count = stamp, 1
        while unique in taken:  # run again twice in one second
            count += 1
            unique = f"{stamp}-{count}"
        stamp = unique
        aside = f"superseded-{stamp}"
        plan.run_again(numbers, task_args)
        plan.again.append(
            {"numbers": list(numbers), "task_args": task_args, "at": stamp}
        )
        self.save(plan)
        for number in numbers:
            self._set_aside(number, aside)
        return aside

    def _set_aside(self, number: str, aside: str) -> None:
        runs = self.path / "runs" / number
        moves = list(runs.glob("run-*")) if runs.is_dir() else []
        moves += [
            path
            for path in (
                [self.task_file(number)]
                + sorted((self.path / "logs").glob(f"{number}-run-*.log"))
            )
            if path.exists()
        ]
        if not moves:
            return
        target = runs / aside
        target.mkdir(parents=True, exist_ok=True)
        for path in moves:
            os.replace(path, target / path.name)

    def results(self) -> list[pathlib.Path]:
        return sorted((self.path / "runs").glob("*/run-*.json.gz"))

    def failures(self) -> list[dict]:
        out = []
        for path in sorted((self.path / "runs").glob("*/run-*.failed.json")):
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                out.append({"reason": f"{path.name} is unreadable"})
        return out


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )
