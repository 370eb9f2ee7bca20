"""``rally-osic faults-config``: write an os-faults config."""

from __future__ import annotations

import json
import os
import sys
import tempfile


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

    try:
        inventory = osa.load(args.osa_inventory)
        config = osa.to_os_faults(
            inventory,
            username=args.ssh_user,
            private_key_file=args.ssh_key,
            local_nodes=tuple(args.local_node),
            lxc_path=args.lxc_path,
        )
    except osa.InventoryError as exc:
        raise CommandError(str(exc)) from None
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    if not args.output:
        sys.stdout.write(text)
        return 0
    out_dir = os.path.dirname(os.path.abspath(args.output))
    try:
        fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".faults-config-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, args.output)
    except OSError as exc:
        raise CommandError(f"cannot write {args.output}: {exc}") from None
    print(
        f"wrote {args.output}: {len(config['services'])} services on "
        f"{len(config['node_discover']['args'])} hosts",
        file=sys.stderr,
    )
    return 0
