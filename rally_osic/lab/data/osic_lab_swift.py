"""Runs one Swift server or daemon of the rally-osic lab.

``python osic_lab_swift.py SWIFT_DIR COMMAND CONF [ARGS...]`` runs the
console script COMMAND (``swift-object-replicator``, ...) of this venv
with ``swift.conf`` read from SWIFT_DIR: Swift hard-codes
``/etc/swift/swift.conf`` (``swift.common.utils.SWIFT_CONF_FILE``), and
five of its daemons ignore ``swift_dir`` for it. The command line keeps
COMMAND and CONF, by which the lab and os-faults find the process.
"""

import sys
from importlib import metadata


def main():
    swift_dir, command, *args = sys.argv[1:]
    from swift.common import utils

    utils.set_swift_dir(swift_dir)
    [entry] = [
        ep
        for ep in metadata.entry_points(group="console_scripts")
        if ep.name == command
    ]
    sys.argv = [command, *args]
    return entry.load()()


if __name__ == "__main__":
    sys.exit(main())
