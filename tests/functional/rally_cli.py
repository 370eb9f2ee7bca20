"""Run the real ``rally`` CLI in an isolated home and database."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys


class RallyCLI:
    """The ``rally`` of this venv, with its own HOME and SQLite database."""

    def __init__(self, home: pathlib.Path) -> None:
        self.home = home
        self.binary = str(pathlib.Path(sys.executable).with_name("rally"))
        self.env = {
            **os.environ,
            "HOME": str(home),
            "OS_DATABASE__CONNECTION": f"sqlite:///{home}/rally.sqlite",
        }

    def run(
        self, *args: str, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def check(self, *args: str, timeout: float = 300) -> str:
        result = self.run(*args, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(
                f"rally {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def setup(self, env_name: str = "local") -> None:
        self.check("db", "create")
        self.check("env", "create", "--name", env_name)

    def start_task(
        self, task: dict, *extra: str
    ) -> tuple[subprocess.CompletedProcess, str]:
        """Run a task to the end; return the process and the task uuid."""
        path = self.home / "task.json"
        path.write_text(json.dumps(task))
        result = self.run("task", "start", str(path), *extra, timeout=600)
        uuid = self.check("task", "list", "--uuids-only").split()[-1]
        return result, uuid

    def report_json(self, uuid: str) -> dict:
        out = self.home / f"{uuid}.json"
        self.check("task", "report", uuid, "--json", "--out", str(out))
        return json.loads(out.read_text())

    def start_template(
        self,
        template: pathlib.Path,
        args: dict,
        *extra: str,
        timeout: float = 600,
    ) -> tuple[subprocess.CompletedProcess, str | None]:
        """``rally task start TEMPLATE --task-args ARGS``; the new uuid."""
        before = set(self.check("task", "list", "--uuids-only").split())
        result = self.run(
            "task",
            "start",
            str(template),
            "--task-args",
            json.dumps(args),
            *extra,
            timeout=timeout,
        )
        new = [
            uuid
            for uuid in self.check("task", "list", "--uuids-only").split()
            if uuid not in before
        ]
        return result, (new[-1] if new else None)
