"""Time ``rally-osic report`` against Rally's own ``--html-static``.

Both read the same synthetic Rally JSON (100 workloads x 1,000 iterations
by default, with faults, failures and concurrency) in the same run; each
command runs ``--repeat`` times and the medians of wall time and peak
memory (RSS summed over the process tree, sampled every 20 ms) are
printed, with the CPU time of the process tree (user + system), which
other jobs on the machine disturb less than wall time.

    python benchmarks/bench_report.py [--workloads 100] [--iterations 1000]
        [--repeat 3] [--scaling 1000,3000,10000] [--skip-rally]

The workloads carry no hooks: Rally 5.1.1 cannot render hooks read from a
JSON file (``dictionary update sequence element #0 has length 1``), so
the fault time comes from the fault SLAs' ``fault_at``, as the reporter
allows.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import synthetic  # noqa: E402

BIN = pathlib.Path(sys.executable).parent


def descendants(pid: int) -> list[int]:
    found = [pid]
    index = 0
    while index < len(found):
        try:
            with open(
                f"/proc/{found[index]}/task/{found[index]}/children"
            ) as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            pass
        index += 1
    return found


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(
    command: list[str], env: dict[str, str]
) -> tuple[float, float, float]:
    """(wall seconds, peak tree RSS in MiB, CPU seconds of the process
    tree) of a command that must pass."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, sum(rss_kib(p) for p in descendants(process.pid)))
        time.sleep(0.02)
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    stderr = process.stderr.read().decode(errors="replace")
    if process.returncode:
        raise RuntimeError(f"{command[0]} failed: {stderr[-1000:]}")
    return wall, peak / 1024, cpu


def write_file(path, workloads, iterations):
    synthetic.write_rally_json(
        path,
        workloads=workloads,
        iterations=iterations,
        rps=max(10, iterations // 100),
        seed=1,
        hooks=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=100)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--scaling",
        default="",
        help="comma-separated iteration counts for a linearity check "
        "of our report alone, e.g. 1000,3000,10000",
    )
    parser.add_argument("--skip-rally", action="store_true")
    args = parser.parse_args()

    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-report-"))
    env = dict(os.environ)
    env["HOME"] = str(work)
    env["OS_DATABASE__CONNECTION"] = f"sqlite:///{work}/rally.sqlite"
    results_file = work / "results.json"
    write_file(results_file, args.workloads, args.iterations)
    size = results_file.stat().st_size / 2**20
    print(
        f"{args.workloads} workloads x {args.iterations} iterations: "
        f"{size:.0f} MiB of Rally JSON"
    )
    commands = {
        "rally-osic report": [
            str(BIN / "rally-osic"),
            "report",
            str(results_file),
            "-o",
            str(work / "ours"),
            "-q",
        ],
        "rally-osic report --svg": [
            str(BIN / "rally-osic"),
            "report",
            str(results_file),
            "-o",
            str(work / "ours-svg"),
            "-q",
            "--svg",
        ],
    }
    if not args.skip_rally:
        subprocess.run(
            [str(BIN / "rally"), "db", "create"],
            env=env,
            capture_output=True,
            check=True,
        )
        commands["rally task report --html-static"] = [
            str(BIN / "rally"),
            "task",
            "report",
            str(results_file),
            "--html-static",
            "--out",
            str(work / "rally.html"),
        ]
    samples: dict[str, list[tuple[float, float, float]]] = {
        k: [] for k in commands
    }
    order = list(commands)
    for round_number in range(args.repeat):
        random.Random(round_number).shuffle(order)
        for name in order:
            samples[name].append(measure(commands[name], env))
    print(f"medians of {args.repeat} runs:")
    summary = {}
    for name, values in samples.items():
        wall = statistics.median(v[0] for v in values)
        peak = statistics.median(v[1] for v in values)
        cpu = statistics.median(v[2] for v in values)
        summary[name] = {
            "wall_s": wall,
            "peak_mib": peak,
            "cpu_s": cpu,
            "wall_samples": [round(v[0], 2) for v in values],
        }
        print(
            f"  {name:34s} {wall:6.2f} s  {peak:6.0f} MiB peak RSS  "
            f"{cpu:6.2f} s CPU  (walls: "
            f"{', '.join(f'{v[0]:.2f}' for v in values)})"
        )

    if args.scaling:
        print("scaling of rally-osic report, one run each:")
        for count in (int(c) for c in args.scaling.split(",")):
            path = work / f"scale-{count}.json"
            write_file(path, args.workloads, count)
            wall, peak, cpu = measure(
                [
                    str(BIN / "rally-osic"),
                    "report",
                    str(path),
                    "-o",
                    str(work / f"scale-{count}"),
                    "-q",
                ],
                env,
            )
            summary[f"scaling {count}"] = {
                "wall_s": wall,
                "peak_mib": peak,
                "cpu_s": cpu,
            }
            print(
                f"  {args.workloads} x {count:6d}: {wall:6.2f} s  "
                f"{peak:6.0f} MiB  {cpu:6.2f} s CPU  "
                f"({wall / (args.workloads * count) * 1e6:.1f} µs/iteration)"
            )
            path.unlink()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
