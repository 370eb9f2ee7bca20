"""A Rally scenario that behaves like a service hit by a fault.

Used only by the report tests: a ``sys_call`` hook creates the marker file
(the "fault") and later removes it (the "restart"). While the marker exists
the scenario fails; for a while after it is removed it runs slower.
"""

import os
import random
import time

from rally.task import scenario


@scenario.configure(name="OsicTest.flaky_service")
class FlakyService(scenario.Scenario):
    def run(self, marker, slow_after=3.0, base=0.05):
        """Fail while the marker file exists, then run slower for a while."""
        if os.path.exists(marker):
            time.sleep(base / 2)
            raise RuntimeError(
                "Service unavailable <script>alert('x')</script> "
                "<img src=x onerror=alert(1)>"
            )
        removed = marker + ".removed"
        slow = 1.0
        if os.path.exists(removed):
            age = time.time() - os.path.getmtime(removed)
            if age < slow_after:
                slow = 4.0
        time.sleep(base * slow * random.uniform(0.8, 1.3))
