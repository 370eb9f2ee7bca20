"""What a fault is: :class:`FaultSpec`, parsed from the hook's config or
from an os-faults human-API sentence, and checked before anything runs
(the hook's validation at ``rally task validate`` time uses the same
checks).
"""

from __future__ import annotations

import dataclasses
import re

from rally_osic.faults import targets as tg

NODE_ACTIONS = ("reboot", "poweroff", "poweron", "reset", "stress")
STRESS_TARGETS = {
    "cpu": "--cpu {workers} --cpu-load 100",
    "memory": "--vm {workers} --vm-bytes {size}",
    "disk": "--hdd {workers} --hdd-bytes {size} --temp-path {temp_path}",
}
# stress-ng sizes per worker: --vm-bytes, --hdd-bytes
STRESS_DEFAULT_SIZE = {"memory": "50%", "disk": "256M"}
STRESS_SIZE_RE = re.compile(r"^[0-9]+[bBkKmMgG%]?$")
POLL = 0.02


class FaultError(Exception):
    """Bad input or an unreachable node (one line)."""


@dataclasses.dataclass
class FaultSpec:
    action: str
    service: str | None = None
    nodes: object = "all"  # "one" | "all" | [names]
    seconds: float | None = None
    stress: str | None = None
    workers: int = 1
    sentence: str | None = None
    size: str | None = None  # stress-ng --vm-bytes / --hdd-bytes
    temp_path: str | None = None  # stress-ng --temp-path (disk)

    def describe(self) -> str:
        if self.sentence:
            return self.sentence
        what = (
            f"{self.action} {self.service} service"
            if self.service
            else (
                f"{self.action}" + (f" {self.stress}" if self.stress else "")
            )
        )
        nodes = (
            self.nodes if isinstance(self.nodes, str) else ",".join(self.nodes)
        )
        extra = f" for {self.seconds:g} s" if self.seconds else ""
        return f"{what} on {nodes} node(s){extra}"


def parse_sentence(sentence: str) -> FaultSpec:
    """An os-faults human-API sentence as a FaultSpec."""
    from os_faults.api import human

    text = sentence.lower().strip()
    for pattern in human.PATTERNS:
        m = re.search(pattern, text)
        if m:
            break
    else:
        raise FaultError(f"cannot parse fault sentence {sentence!r}")
    g = m.groupdict()
    action = g["action"].replace(" ", "_")
    node = g.get("node")
    if node in human.RANDOMNESS:
        nodes: object = "one"
    elif node and node not in human.ANYTHING:
        nodes = [node]
    else:
        nodes = "all"
    duration = float(g["duration"]) if g.get("duration") else None
    if g.get("container"):
        raise FaultError("container sentences are not supported; use osic")
    if action in NODE_ACTIONS:
        if action == "stress" and not g.get("target"):
            raise FaultError(f"stress needs a target: {sentence!r}")
        return FaultSpec(
            action=action,
            service=g.get("service"),
            nodes=nodes,
            seconds=duration,
            stress=g.get("target"),
            sentence=sentence,
        )
    return FaultSpec(
        action=action,
        service=g.get("service"),
        nodes=nodes,
        seconds=duration,
        sentence=sentence,
    )


def check_spec(spec: FaultSpec) -> FaultSpec:
    """``spec`` if it can run; else :class:`FaultError` with the reason.

    Only what can be told without the cloud, so that ``rally task
    validate`` and the hook at run time say the same thing.
    """
    if spec.action in NODE_ACTIONS:
        if spec.action == "stress":
            if not spec.stress:
                raise FaultError(
                    f"stress needs a kind: {', '.join(STRESS_TARGETS)}"
                )
            if spec.stress not in STRESS_TARGETS:
                raise FaultError(
                    f"unknown stress target {spec.stress!r} "
                    f"(one of {', '.join(STRESS_TARGETS)})"
                )
            if not spec.seconds or spec.seconds <= 0:
                raise FaultError("stress needs a duration (seconds > 0)")
            size = spec.size or STRESS_DEFAULT_SIZE.get(spec.stress, "")
            if size and not STRESS_SIZE_RE.match(size):
                raise FaultError(f"bad stress size {size!r} (e.g. 64M, 10%)")
    elif spec.action in tg.SERVICE_ACTIONS:
        if not spec.service:
            raise FaultError("no service named in the fault")
    else:
        supported = ", ".join((*tg.SERVICE_ACTIONS, *NODE_ACTIONS))
        raise FaultError(
            f"action {spec.action!r} is not supported (one of {supported})"
        )
    if spec.nodes not in ("one", "all") and not (
        isinstance(spec.nodes, list | tuple)
        and spec.nodes
        and all(isinstance(n, str) and n for n in spec.nodes)
    ):
        raise FaultError(
            f"nodes must be 'one', 'all' or a list of node names, not "
            f"{spec.nodes!r}"
        )
    return spec
