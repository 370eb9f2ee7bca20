"""Rally imports every plugin module at start-up; none may pull in the
heavy libraries, which cost every ``rally`` command their import time."""

import subprocess
import sys

HEAVY = ("numpy", "matplotlib", "libvirt", "os_faults", "weasyprint")

PROBE = f"""
import importlib, pkgutil, sys
import rally_osic.plugins as plugins
for info in pkgutil.walk_packages(plugins.__path__, "rally_osic.plugins."):
    importlib.import_module(info.name)
print(",".join(m for m in {HEAVY!r} if m in sys.modules))
"""


def test_plugin_modules_import_no_heavy_library():
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
