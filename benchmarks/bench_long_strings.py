"""PDF time for results with long unbreakable strings (issue #9, §4).

One fault run of 100 iterations whose error type and hook description
are ``N`` unbreakable characters (0, 4 KB, 1 MB); ``rally-osic report
--pdf`` runs ``--repeat`` times per size and the median CPU time (user +
system of the process tree, which other jobs on a shared machine disturb
less than wall time) and wall time are printed.

    python benchmarks/bench_long_strings.py [--repeat 3] [--sizes 0,4096]

``--source DIR`` runs the reporter of another checkout (its rally_osic
first on PYTHONPATH), to compare before and after a change.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.report import factory  # noqa: E402


def results(size: int) -> dict:
    workload = factory.fault_workload(
        iterations=100, rps=5, fault_at=8, outage=(9, 12), degraded=(12, 14)
    )
    if size:
        for iteration in workload["data"]:
            if iteration["error"]:
                iteration["error"][0] = "E" * size
        workload["hooks"][0]["config"]["description"] = "H" * size
    return factory.document([workload])


# Runs the reporter of SOURCE (or of this checkout): an editable install
# answers imports through a finder of its own, so that one is removed.
LAUNCH = """
import sys
source = sys.argv.pop(1)
if source:
    sys.meta_path[:] = [
        f for f in sys.meta_path if "editable" not in type(f).__module__
    ]
    sys.path.insert(0, source)
import rally_osic.cli
assert rally_osic.cli.__file__.startswith(source), rally_osic.cli.__file__
sys.exit(rally_osic.cli.main(sys.argv[1:]))
"""


def run_once(path, out, source) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, str(source or "")]
        + ["report", str(path), "-o", str(out), "--pdf", "-q"]
        + ["--workers", "1"],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime
    )
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default="0,4096,1048576")
    parser.add_argument("--source", type=pathlib.Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            path = pathlib.Path(tmp) / f"results-{size}.json"
            path.write_text(json.dumps(results(size)))
            cpus, walls = [], []
            for n in range(args.repeat):
                cpu, wall = run_once(
                    path, pathlib.Path(tmp) / f"o{n}", args.source
                )
                cpus.append(cpu)
                walls.append(wall)
            print(
                f"{size:>8} chars: CPU {statistics.median(cpus):.1f} s, "
                f"wall {statistics.median(walls):.1f} s "
                f"(median of {args.repeat})",
                flush=True,
            )


if __name__ == "__main__":
    main()
