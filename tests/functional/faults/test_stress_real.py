"""Memory and disk stress with the real stress-ng, small and short."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from osic_fault_helpers import kill_pid, local_config

from rally_osic.faults import engine, probe
from rally_osic.faults import spec as specs

pytestmark = pytest.mark.functional


def stress_ng_pids() -> set[int]:
    found = set()
    for pid in probe.list_pids():
        argv = probe.cmdline_of(pid) or [""]
        comm = (probe._read(f"/proc/{pid}/comm") or "").strip()
        if comm.startswith("stress-ng") or os.path.basename(
            argv[0]
        ).startswith("stress-ng"):
            found.add(pid)
    return found


def rss_kb(pid: int) -> int:
    for line in (probe._read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Sampler:
    """Samples the stress-ng processes that were not there before."""

    def __init__(self, temp_path=None):
        self.before = stress_ng_pids()
        self.temp_path = temp_path
        self.seen: dict[int, list[float]] = {}
        self.max_rss_kb = 0
        self.max_temp_files = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self._stop.wait(0.05):
            now = time.time()
            for pid in probe.resolve({"pids": list(stress_ng_pids())}):
                if pid in self.before:
                    continue
                span = self.seen.setdefault(pid, [now, now])
                span[1] = now
                self.max_rss_kb = max(self.max_rss_kb, rss_kb(pid))
            if self.temp_path:
                # stress-ng's work dir (its file is unlinked at once)
                n = sum(1 + len(f) for _, _, f in os.walk(self.temp_path))
                self.max_temp_files = max(self.max_temp_files, n - 1)

    def stop(self):
        self._stop.set()
        self.thread.join(timeout=5)

    def alive(self) -> list[int]:
        # a zombie of a non-reaping PID 1 counts as ended
        return probe.resolve({"pids": list(self.seen)})


@pytest.mark.skipif(not shutil.which("stress-ng"), reason="no stress-ng")
@pytest.mark.parametrize(
    "target, size",
    [("memory", "64M"), ("disk", "16M")],
)
def test_stress_runs_for_its_time_then_is_gone(tmp_path, target, size):
    config = local_config({})
    del config["services"]
    temp = tmp_path / "stress"
    temp.mkdir()
    sampler = Sampler(str(temp))
    try:
        rec = engine.run_fault(
            config,
            specs.FaultSpec(
                action="stress",
                stress=target,
                seconds=2,
                size=size,
                temp_path=str(temp),
            ),
            publish=False,
        )
        time.sleep(0.2)
    finally:
        sampler.stop()
        for pid in sampler.alive():  # only what this test started
            kill_pid(pid)
    assert rec["passed"], rec["reason"]
    assert rec["effect"] == f"stress-ng {target} running"
    ran = rec["healthy_at"] - rec["effective_at"]
    assert 1.8 < ran < 4, ran
    [parent] = rec["pids_after"]["127.0.0.1"]
    assert parent in sampler.seen
    assert len(sampler.seen) >= 2  # the parent and its worker(s)
    first = min(s[0] for s in sampler.seen.values())
    last = max(s[1] for s in sampler.seen.values())
    assert 1.5 < last - first < 3.5, last - first
    assert sampler.alive() == [], "stress-ng processes left behind"
    assert rec["findings"] == []
    if target == "memory":
        # 64M per worker, not the default 50 % of the machine
        assert 32 * 1024 < sampler.max_rss_kb < 160 * 1024
    else:
        assert sampler.max_temp_files >= 1  # it wrote into temp_path...
        assert list(temp.iterdir()) == []  # ...and cleaned up
    print(
        f"\nstress {target} {size}: ran {ran:.2f} s by the engine, "
        f"stress-ng seen {last - first:.2f} s, {len(sampler.seen)} "
        f"processes, max RSS {sampler.max_rss_kb // 1024} MiB"
    )


def test_bad_stress_size_is_refused():
    config = local_config({})
    del config["services"]
    with pytest.raises(specs.FaultError, match="bad stress size"):
        engine.run_fault(
            config,
            specs.FaultSpec(
                action="stress", stress="memory", seconds=1, size="1;reboot"
            ),
            publish=False,
        )
