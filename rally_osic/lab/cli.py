"""``rally-osic lab up|down|status|env``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    from rally_osic.lab.config import STATE_DIR_ENV, default_state_dir

    lab = subparsers.add_parser(
        "lab",
        help="run a small real OpenStack on 127.0.0.1",
        description=(
            "A small OpenStack (keystone, glance, placement, nova with two "
            "fake computes, neutron API; optionally cinder on ceph, swift, "
            "neutron's agents on open vswitch, nova's metadata API and "
            "console proxies) on 127.0.0.1 and in namespaces of its own, "
            "from PyPI and Debian packages, with its state in one directory."
        ),
    )
    lab.set_defaults(func=lambda args: lab.print_help() or 2)
    commands = lab.add_subparsers(dest="lab_command", metavar="ACTION")

    def add(name: str, func, help_text: str) -> argparse.ArgumentParser:
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument(
            "--state-dir",
            type=Path,
            default=default_state_dir(),
            help=f"lab state directory (default: ${STATE_DIR_ENV} or "
            f"%(default)s)",
        )
        parser.set_defaults(func=func)
        return parser

    up = add("up", _up, "set up and start the lab (only what is down)")
    up.add_argument(
        "--port-offset",
        type=int,
        default=None,
        help="added to every standard port (3306, 5000, ...); fixed when "
        "the lab is created (default 0)",
    )
    up.add_argument(
        "--venv-dir",
        type=Path,
        default=None,
        help="where the services venvs live (default: STATE_DIR/venvs); "
        "fixed when the lab is created",
    )
    up.add_argument(
        "--controllers",
        type=int,
        default=None,
        metavar="N",
        help="controller nodes, each on its own loopback address "
        "(127.0.1.1, ...): a Galera node, a RabbitMQ node, a memcached, "
        "each API and nova's conductor and scheduler on each, HAProxy in "
        "front; fixed when the lab is created (default 1: everything "
        "once, on 127.0.0.1)",
    )
    up.add_argument(
        "--only",
        action="append",
        metavar="SERVICE",
        help="start only this service of an existing lab (repeatable)",
    )
    up.add_argument(
        "--services",
        metavar="FAMILY[,FAMILY...]",
        help="also run these optional service families, kept for later "
        "runs (see 'lab families'; 'all' for every one)",
    )
    up.add_argument(
        "--computes",
        choices=("fake", "libvirt"),
        help="libvirt: also run two compute hosts with libvirtd, QEMU and "
        "nova-compute's libvirt driver, for real guests and live "
        "migration (kept for later runs; the two fake computes stay); "
        "fake: only the fake computes (stops the libvirt hosts)",
    )
    up.add_argument(
        "--storage",
        choices=("local", "shared"),
        help="the libvirt hosts' guest disks: local (block migration; "
        "the default) or shared, on the lab's Ceph (RBD); kept for "
        "later runs",
    )
    down = add("down", _down, "stop every process the lab started")
    down.add_argument(
        "--only",
        action="append",
        metavar="SERVICE",
        help="stop only this service (repeatable)",
    )
    status = add("status", _status, "show each service, PID, port, health")
    status.add_argument("--json", action="store_true", help="JSON output")
    listing = commands.add_parser(
        "families", help="list the service families and what they run"
    )
    listing.set_defaults(func=_families)
    env = add(
        "env",
        _env,
        "create the Rally env and write the os-faults config of the lab",
    )
    env.add_argument(
        "--name", default="osic-lab", help="Rally env name (%(default)s)"
    )


def _errors(func):
    def wrapper(args):
        from rally_osic.errors import CommandError
        from rally_osic.lab.lab import LabError

        try:
            return func(args)
        except LabError as exc:
            raise CommandError(str(exc)) from exc

    return wrapper


@_errors
def _up(args) -> int:
    from rally_osic.errors import CommandError
    from rally_osic.lab import lab

    wanted = [
        name.strip()
        for name in (args.services or "").split(",")
        if name.strip()
    ]
    without = []
    if args.computes == "fake" and args.storage == "shared":
        raise CommandError(
            "--storage shared is the libvirt hosts' storage: it needs "
            "--computes libvirt, not fake"
        )
    if args.computes == "libvirt":
        wanted.append("libvirt")
    elif args.computes == "fake":
        without += ["libvirt-rbd", "libvirt"]
    if args.storage == "shared":
        wanted.append("libvirt-rbd")
    elif args.storage == "local":
        without.append("libvirt-rbd")
    lab.up(
        args.state_dir,
        args.port_offset,
        args.venv_dir,
        args.only,
        wanted,
        without,
        controllers=args.controllers,
    )
    return 0


@_errors
def _down(args) -> int:
    from rally_osic.lab import lab

    stopped = lab.down(args.state_dir, args.only)
    if not stopped:
        print("nothing to stop")
    return 0


@_errors
def _status(args) -> int:
    from rally_osic.lab import lab

    rows = lab.status(args.state_dir)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(lab.format_status(rows))
    return 0 if all(row["healthy"] for row in rows) else 3


def _families(args) -> int:
    from rally_osic.lab import families

    for family in families.all_families():
        kind = "optional" if family.optional else "always"
        print(f"{family.name:16} {kind:8} {family.summary}")
    return 0


@_errors
def _env(args) -> int:
    from rally_osic.lab import lab

    files = lab.env(args.state_dir, args.name)
    print(f"rally env '{args.name}' created and checked")
    for key, path in files.items():
        print(f"{key}: {path}")
    return 0
