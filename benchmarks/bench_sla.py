"""Cost of the fault SLAs against Rally's built-in ``outliers`` SLA.

Feeds the same stream of iterations (default 1,000,000: a 10 rps load with
concurrency, a fault, a partial and a full outage and a degraded recovery)
to each SLA through ``add_iteration`` and then asks for ``result()``, as
Rally does. Reports the median of several runs, total and per iteration.

    python benchmarks/bench_sla.py [--iterations N] [--runs K]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time

from rally.plugins.task.sla import outliers

from rally_osic.plugins.sla import (
    fault_degradation,
    fault_downtime,
    fault_recovery,
)


def make_stream(count: int, seed: int = 7) -> list[dict]:
    """Iterations in completion order, like Rally hands them over."""
    rnd = random.Random(seed)
    rate = 10.0
    fault = count * 0.4
    stream = []
    for i in range(count):
        start = 1_700_000_000.0 + i / rate
        duration = rnd.lognormvariate(-2.5, 0.3)
        error = []
        if fault <= i < fault + 300 and rnd.random() < 0.5:
            error = ["ServiceUnavailable", "503", "tb"]  # partial outage
        elif fault + 300 <= i < fault + 600:
            error = ["ConnectionError", "refused", "tb"]  # full outage
        elif fault + 600 <= i < fault + 3000:
            duration *= 4  # degraded recovery
        stream.append(
            {
                "timestamp": start,
                "duration": duration,
                "idle_duration": 0.0,
                "error": error,
                "output": {"additive": [], "complete": []},
                "atomic_actions": [],
            }
        )
    # Completion order: concurrent iterations finish out of start order.
    stream.sort(key=lambda it: it["timestamp"] + it["duration"])
    return stream


def time_sla(factory, stream) -> tuple[float, dict]:
    gc.collect()
    started = time.perf_counter()
    criterion = factory()
    for iteration in stream:
        criterion.add_iteration(iteration)
    result = criterion.result()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    stream = make_stream(args.iterations)
    fault_at = {"unit": "time", "at": args.iterations * 0.4 / 10.0}
    contenders = {
        "outliers (Rally)": lambda: outliers.Outliers({"max": 10**9}),
        "fault_downtime": lambda: fault_downtime.FaultDowntime(
            {"max": 60, "fault_at": fault_at}
        ),
        "fault_degradation": lambda: fault_degradation.FaultDegradation(
            {"max_seconds": 600, "fault_at": fault_at}
        ),
        "fault_recovery": lambda: fault_recovery.FaultRecovery(
            {"within": 600, "fault_at": fault_at}
        ),
    }
    timings = {name: [] for name in contenders}
    details = {}
    # Interleave the contenders so that machine noise hits them alike.
    for _ in range(args.runs):
        for name, factory in contenders.items():
            seconds, result = time_sla(factory, stream)
            timings[name].append(seconds)
            details[name] = result["detail"]

    baseline = statistics.median(timings["outliers (Rally)"])
    print(
        f"{args.iterations:,} iterations, median of {args.runs} runs\n"
        f"{'SLA':20} {'total s':>8} {'us/iter':>8} {'vs outliers':>11}"
    )
    for name, values in timings.items():
        median = statistics.median(values)
        print(
            f"{name:20} {median:8.2f} "
            f"{median / args.iterations * 1e6:8.2f} "
            f"{median / baseline:10.2f}x"
        )
    for name, detail in details.items():
        print(f"  {name}: {detail}")


if __name__ == "__main__":
    main()
