"""The probed servers' user data: a load like the study's. Pure rendering.

The study's VMs ran a Spark streaming job with their disks half full.
Here the same pressure on a migration, all of it configurable:

* a process that keeps rewriting ``dirty_mib`` MiB of memory at
  ``dirty_mibps`` MiB/s (0: as fast as it can), the dirty rate that
  pre-copy has to catch up with;
* a UDP and a TCP echo responder (``udp_port``, ``tcp_port``) for the
  probes;
* the root disk filled to ``disk_fill`` (0.5: halfway), in one file.

The script is POSIX sh. It runs ``osic-responder`` (``data/responder.c``)
where the image ships it (busybox guests), else ``responder.py`` with
python3 (every image with cloud-init has python3), and logs to
``/var/log/osic-workload.log`` where it can.
"""

from __future__ import annotations

import dataclasses
import os
import shlex

RESPONDER_PATH = os.path.join(os.path.dirname(__file__), "responder.py")
HEREDOC_END = "OSIC_RESPONDER_EOF"


@dataclasses.dataclass(frozen=True)
class Workload:
    dirty_mib: int = 64
    dirty_mibps: float = 0.0
    udp_port: int = 7
    tcp_port: int = 7
    disk_fill: float = 0.5
    fill_path: str = "/var/lib/osic-fill"

    def __post_init__(self) -> None:
        if not 0 <= self.disk_fill < 1:
            raise ValueError("disk_fill must be in [0, 1)")
        for port in (self.udp_port, self.tcp_port):
            if not 0 < port < 65536:
                raise ValueError(f"port {port} is out of range")
        if self.dirty_mib < 0 or self.dirty_mibps < 0:
            raise ValueError("dirty_mib and dirty_mibps must be >= 0")


SCHEMA_PROPERTIES = {
    "dirty_mib": {"type": "integer", "minimum": 0},
    "dirty_mibps": {"type": "number", "minimum": 0},
    "udp_port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "tcp_port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "disk_fill": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
    "fill_path": {"type": "string", "minLength": 1},
}


def responder_source() -> str:
    with open(RESPONDER_PATH) as fd:
        return fd.read()


def user_data(workload: Workload) -> str:
    """The shell script given to each server as user data."""
    source = responder_source()
    assert HEREDOC_END not in source
    q = shlex.quote
    fill_percent = int(round(workload.disk_fill * 100))
    return f"""#!/bin/sh
# rally-osic live-migration workload (rendered by rally_osic.probes).
UDP_PORT={workload.udp_port}
TCP_PORT={workload.tcp_port}
DIRTY_MIB={workload.dirty_mib}
DIRTY_MIBPS={workload.dirty_mibps:g}
FILL_PERCENT={fill_percent}
FILL_PATH={q(workload.fill_path)}
LOG=/var/log/osic-workload.log
[ -w /var/log ] || LOG=/dev/console
say() {{ echo "osic-workload: $*" >>"$LOG" 2>&1; }}

fill_disk() {{
    [ "$FILL_PERCENT" -gt 0 ] || return 0
    dir=$(dirname "$FILL_PATH")
    mkdir -p "$dir" 2>/dev/null
    set -- $(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 {{print $2, $3}}')
    [ -n "$2" ] || {{ say "no disk to fill at $dir"; return 0; }}
    want=$(( $1 * FILL_PERCENT / 100 - $2 ))
    if [ "$want" -gt 1024 ]; then
        dd if=/dev/urandom of="$FILL_PATH" bs=1024 count="$want" \\
            2>/dev/null && say "filled $want KiB at $FILL_PATH"
    fi
}}

if command -v osic-responder >/dev/null 2>&1; then
    osic-responder "$UDP_PORT" "$TCP_PORT" "$DIRTY_MIB" "$DIRTY_MIBPS" &
    say "osic-responder started (pid $!)"
elif command -v python3 >/dev/null 2>&1; then
    RESPONDER=/run/osic-responder.py
    cat >"$RESPONDER" <<'{HEREDOC_END}'
{source}{HEREDOC_END}
    python3 "$RESPONDER" --udp "$UDP_PORT" --tcp "$TCP_PORT" \\
        --dirty-mib "$DIRTY_MIB" --dirty-mibps "$DIRTY_MIBPS" &
    say "responder.py started (pid $!)"
else
    say "neither osic-responder nor python3: no responders"
fi
fill_disk &
"""
