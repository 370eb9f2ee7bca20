"""What installing rally-osic adds to the start-up of ``rally``.

Runs ``rally plugin list`` repeatedly in the same venv, alternately with
the rally-osic entry point seen and hidden from Rally's plugin discovery
(everything else identical), and prints the medians and their difference.
The goal is a difference under 150 ms.

    python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

RALLY = """
import os, sys
from rally.common.plugin import discover
if os.environ.get("HIDE_RALLY_OSIC"):
    found = discover.find_packages_by_entry_point
    discover.find_packages_by_entry_point = lambda: [
        p for p in found() if p["name"] != "rally-osic"
    ]
from rally.cli.main import main
sys.argv = ["rally", "plugin", "list"]
sys.exit(main())
"""


def run_once(hide: bool, home: str) -> tuple[float, str]:
    env = {**os.environ, "HOME": home}
    env.pop("HIDE_RALLY_OSIC", None)
    if hide:
        env["HIDE_RALLY_OSIC"] = "1"
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", RALLY],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return time.perf_counter() - started, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="rally-startup-")
    timings = {"without rally-osic": [], "with rally-osic": []}
    run_once(False, home)  # warm the page cache
    for _ in range(args.runs):
        seconds, out = run_once(True, home)
        assert "fault_downtime" not in out
        timings["without rally-osic"].append(seconds)
        seconds, out = run_once(False, home)
        assert "fault_downtime" in out
        timings["with rally-osic"].append(seconds)
    medians = {name: statistics.median(v) for name, v in timings.items()}
    for name, median in medians.items():
        print(f"{name:20} median {median * 1000:7.0f} ms ({args.runs} runs)")
    difference = medians["with rally-osic"] - medians["without rally-osic"]
    print(f"{'difference':20} {difference * 1000:+14.0f} ms")


if __name__ == "__main__":
    main()
