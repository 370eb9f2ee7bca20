"""The scenario's overhead per migration against rally-openstack's
live-migrate helper, on the same lab (its two fake computes).

Both tools move the same two servers back and forth, alternating,
through the same Nova. An independent watcher polls each server every
50 ms and notes when it is ACTIVE on the target host with no task state:
the end of the migration as Nova exposes it. Per migration:

* call -> detected: what each tool reports as the duration;
* end -> detected: how late each tool noticed (its polling), against the
  watcher;
* call -> started (ours): until Nova's migration record says running.

Nova's fake driver "migrates" at once, so this is the tools' overhead,
not a migration's cost. Medians over ``--migrations`` per tool.

    rally-osic lab up --state-dir DIR
    python benchmarks/bench_migration_overhead.py --state-dir DIR
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

from rally_osic.lab import config as lab_config
from rally_osic.probes import evacuate

HOST = "OS-EXT-SRV-ATTR:host"


def clients(config):
    from rally_openstack.common import credential, osclients

    cred = credential.OpenStackCredential(
        auth_url=config.auth_url,
        username="admin",
        password=config.secrets["admin"],
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        region_name="RegionOne",
        permission="admin",
    )
    return osclients.Clients(cred)


class Watcher(threading.Thread):
    def __init__(self, nova, server_id, target):
        super().__init__(daemon=True)
        self.nova, self.server_id, self.target = nova, server_id, target
        self.done_at = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            server = self.nova.servers.get(self.server_id)
            if (
                server.status == "ACTIVE"
                and not getattr(server, "OS-EXT-STS:task_state", None)
                and getattr(server, HOST) == self.target
            ):
                self.done_at = time.time()
                return
            time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--migrations", type=int, default=10)
    args = parser.parse_args()
    config = lab_config.load(args.state_dir)
    from rally import plugins
    from rally.common import cfg, opts

    plugins.load()  # rally-openstack's options (timeouts, poll intervals)
    opts.register()
    cfg.CONF([], project="rally")
    osc = clients(config)
    nova = osc.nova("2.74")
    watch_nova = clients(config).nova("2.25")
    from rally_openstack.task.scenarios.nova import utils as nova_utils

    helper = nova_utils.NovaScenario(admin_clients=osc, clients=osc)
    image = osc.glance("2").images.list(filters={"name": "lab-image"})
    image = next(iter(image))["id"]
    flavor = nova.flavors.find(name="m1.lab").id
    hosts = sorted(s.host for s in nova.services.list(binary="nova-compute"))
    servers = [
        nova.servers.create(
            f"osic-bench-{i}", image, flavor, nics="none", host=hosts[0]
        )
        for i in range(2)
    ]
    results = {"rally-openstack": [], "rally-osic": []}
    loads = [os.getloadavg()[0]]
    try:
        for server in servers:
            while nova.servers.get(server.id).status != "ACTIVE":
                time.sleep(0.5)
        ours = evacuate.Options(poll_interval=0.25, timeout=120)
        for n in range(2 * args.migrations):
            tool = "rally-osic" if n % 2 else "rally-openstack"
            server = nova.servers.get(servers[n % 2 == 0].id)
            source = getattr(server, HOST)
            target = next(h for h in hosts if h != source)
            watcher = Watcher(watch_nova, server.id, target)
            watcher.start()
            called = time.time()
            if tool == "rally-openstack":
                helper._live_migrate(server, skip_compute_nodes_check=True)
                detected = time.time()
                started_after = None
            else:
                row = evacuate.migrate_one(
                    osc.nova("2.25"),
                    {"id": server.id, "name": server.name},
                    source,
                    target,
                    ours,
                )
                detected = called + row["duration"]
                started_after = row["started_after"]
                assert row["success"], row["error"]
            watcher.join(120)
            if watcher.done_at is None:
                raise SystemExit(f"watcher never saw {server.name} move")
            results[tool].append(
                (
                    detected - called,
                    detected - watcher.done_at,
                    started_after,
                )
            )
            loads.append(os.getloadavg()[0])
    finally:
        for server in servers:
            nova.servers.delete(server.id)
    print(
        f"\n{args.migrations} migrations per tool, alternating; load "
        f"average {min(loads):.1f}-{max(loads):.1f}\n"
    )
    print("| | call -> detected | end -> detected | call -> started |")
    print("|---|---|---|---|")
    base = statistics.median(r[0] for r in results["rally-openstack"])
    for tool, rows in results.items():
        total = statistics.median(r[0] for r in rows)
        late = statistics.median(r[1] for r in rows)
        started = [r[2] for r in rows if r[2] is not None]
        print(
            f"| {tool} | {total:.2f} s ({total / base:.2f}x) | {late:.2f} s |"
            + (f" {statistics.median(started):.2f} s |" if started else " - |")
        )


if __name__ == "__main__":
    main()
