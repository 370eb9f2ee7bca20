"""Minimal ``json`` stdout callback for ansible-playbook (os-faults).

os-faults 0.3.0 runs ``ansible-playbook`` with
``ANSIBLE_STDOUT_CALLBACK=json`` and parses
``{"plays": [{"tasks": [{"hosts": {HOST: RESULT}}]}]}`` from stdout. That
callback lives in the ``ansible.posix`` collection, which is not on PyPI on
its own and whose source, Ansible Galaxy, may be unreachable. This file is
loaded by ansible-core from ``callback_plugins`` (set by the fault layer's
executor); a callback found there takes precedence over the collection
redirect of the short name ``json``.
"""

import json

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "json"

    def __init__(self, display=None):
        super().__init__(display)
        self.results = []

    def v2_playbook_on_play_start(self, play):
        self.results.append(
            {
                "play": {"name": play.get_name(), "id": str(play._uuid)},
                "tasks": [],
            }
        )

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.results[-1]["tasks"].append(
            {
                "task": {"name": task.get_name(), "id": str(task._uuid)},
                "hosts": {},
            }
        )

    def _record(self, result, **flags):
        host = result._host.get_name()
        payload = dict(result._result)
        payload.update(flags)
        if self.results and self.results[-1]["tasks"]:
            self.results[-1]["tasks"][-1]["hosts"][host] = payload

    def v2_runner_on_ok(self, result, **kwargs):
        self._record(result)

    def v2_runner_on_failed(self, result, **kwargs):
        self._record(result, failed=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_playbook_on_stats(self, stats):
        summary = {h: stats.summarize(h) for h in sorted(stats.processed)}
        output = {"plays": self.results, "stats": summary}
        self._display.display(
            json.dumps(output, indent=2, sort_keys=True, default=str)
        )
