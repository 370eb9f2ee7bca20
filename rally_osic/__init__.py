"""rally-osic: fault-injection and live-migration studies on Rally.

Keep this module free of imports: Rally imports the plugin package at
start-up and every millisecond here is paid by every ``rally`` command.
"""

__version__ = "0.1.0"
