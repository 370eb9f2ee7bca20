"""A Rally scenario whose outage and slow periods happen at known times.

Used only by the known-truth tests: the schedule is given in seconds since
the first iteration of the workload started, which is the origin of the
fault analysis (and of Rally's ``time`` trigger). The first iteration to
run records that origin in ``clock`` (created exclusively, so the two
worker processes of the rps runner agree on it); every iteration records
its own start and outcome in ``truth`` so that the test can compare the
verdicts with what really happened, call by call.
"""

import json
import os
import time

from rally.task import scenario


def _origin(clock: str, now: float) -> float:
    try:
        fd = os.open(clock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        for _ in range(100):  # bounded: the creator writes at once
            with open(clock) as handle:
                text = handle.read()
            if text:
                return float(text)
            time.sleep(0.001)
        raise RuntimeError(f"{clock} stayed empty") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(repr(now))
    return now


@scenario.configure(name="OsicTest.scripted_service")
class ScriptedService(scenario.Scenario):
    def run(self, clock, truth, outages=(), slow=(), base=0.02, factor=10):
        """Fail inside ``outages``, run ``factor`` times slower inside
        ``slow`` ([start, end) pairs in seconds since the first call)."""
        now = time.time()
        since = now - _origin(clock, now)
        failing = any(a <= since < b for a, b in outages)
        slowed = any(a <= since < b for a, b in slow)
        with open(truth, "a") as handle:
            handle.write(json.dumps([now, since, failing, slowed]) + "\n")
        if failing:
            raise RuntimeError("scripted outage")
        time.sleep(base * (factor if slowed else 1))
