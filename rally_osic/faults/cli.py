"""``rally-osic faults-config``: write an os-faults config."""

from __future__ import annotations

import json
import os
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "faults-config",
        help="write an os-faults config (e.g. from an OSA inventory)",
        description=(
            "Write an os-faults config for the osic_fault hook. With "
            "--osa-inventory, every OpenStack-Ansible service is mapped to "
            "its systemd unit inside its LXC container(s) on the physical "
            "hosts."
        ),
    )
    p.add_argument(
        "--osa-inventory",
        required=True,
        metavar="FILE",
        help="openstack_inventory.json of OpenStack-Ansible",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="default: stdout")
    p.add_argument("--ssh-user", default="root")
    p.add_argument("--ssh-key", metavar="FILE")
    p.add_argument(
        "--local-node",
        action="append",
        default=[],
        metavar="HOST",
        help="act on this physical host locally, not over SSH",
    )
    p.add_argument(
        "--lxc-path",
        metavar="DIR",
        help="LXC path of the containers (lxc-attach -P); default: LXC's "
        "own (/var/lib/lxc, as OpenStack-Ansible uses)",
    )
    p.set_defaults(func=_run)


def _run(args) -> int:
    from rally_osic.errors import CommandError
    from rally_osic.faults import osa
    from rally_osic.files import write_atomic

    if args.output is not None:
        _check_output(args.output)
    inventory = osa.load(args.osa_inventory)
    try:
        config = osa.to_os_faults(
            inventory,
            username=args.ssh_user,
            private_key_file=args.ssh_key,
            local_nodes=tuple(args.local_node),
            lxc_path=args.lxc_path,
        )
    except osa.InventoryError as exc:
        raise osa.InventoryError(f"{args.osa_inventory}: {exc}") from None
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        # It names hosts and SSH keys: readable by its owner only.
        write_atomic(args.output, text, mode=0o600)
    except OSError as exc:
        raise CommandError(
            f"cannot write {args.output}: {exc.strerror or exc}"
        ) from None
    print(
        f"wrote {args.output}: {len(config['services'])} services on "
        f"{len(config['node_discover']['args'])} hosts",
        file=sys.stderr,
    )
    return 0


def _check_output(output: str) -> None:
    from rally_osic.errors import CommandError

    if not output.strip():
        raise CommandError("-o needs a file name (got an empty one)")
    if os.path.isdir(output):
        raise CommandError(
            f"-o {output} is a folder: give a file name, e.g. "
            f"{os.path.join(output, 'os-faults.json')}"
        )
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise CommandError(f"-o {output}: folder {folder} does not exist")
