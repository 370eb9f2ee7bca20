"""Run the real ``rally`` CLI in an isolated home and database."""

from __future__ import annotations

import json
import os
import pathlib
import re
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
        uuid = started_uuid(result.stdout)
        assert uuid, f"no task started:\n{result.stdout[-3000:]}"
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
        """``rally task start TEMPLATE --task-args ARGS``; the new uuid,
        None if Rally created no task."""
        result = self.run(
            "task",
            "start",
            str(template),
            "--task-args",
            json.dumps(args),
            *extra,
            timeout=timeout,
        )
        return result, started_uuid(result.stdout)


# Rally prints it once the task exists, before validating it:
# "Task [tags: 'x'] 1658288b-6044-4cd4-9cc3-ca457ffab015: started".
STARTED = re.compile(
    r"^Task .*?\b([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}): started$", re.M
)


def started_uuid(stdout: str) -> str | None:
    """The uuid of the task ``rally task start`` created. Rather than a
    ``task list`` before and after: each Rally command costs 1-3 s."""
    found = STARTED.findall(stdout)
    return found[-1] if found else None
