"""Service families of the lab, each behind the same small interface.

A family is one module (``infra``, ``keystone``, ``glance``, ...) with one
:class:`Family` instance, ``FAMILY``. It declares what it needs (Debian
packages, venvs, databases, service users, catalog entries, ports,
configuration templates) and implements four steps, each idempotent:

* ``preflight(config)``: refuse a machine it cannot work on, before
  anything starts;
* ``render(config, values)``: write its configuration files;
* ``setup(run)``: one-time work (schema sync, rings, keys, a Ceph
  cluster), run in parallel with the other families once MariaDB,
  memcached, RabbitMQ and Keystone are up; it may start services that
  others must wait for (``run.start``);
* ``services(config)``: the processes to start, each with its exact match,
  pidfile, port and health check; these are also the os-faults targets;
* ``ready(run)``: checks and resources once every service is healthy.

``groups(config)`` names aggregate fault targets (every nova-compute),
``aliases`` gives lab services OpenStack-Ansible's names (mysql), and
``cleanup(config)`` removes what the services left behind after
``lab down`` (namespaces, bridges). The core families always run; the
optional ones only when a lab is asked for them (``lab up --services``).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rally_osic.lab.config import LabConfig
    from rally_osic.lab.services import Service


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    service_type: str
    name: str
    port: str  # a name in config.BASE_PORTS
    path: str = ""


class Family:
    name = ""
    optional = False
    # Compute hosts rather than services (lab up --computes): not part of
    # "--services all", since their guests cost real CPU.
    computes = False
    summary = ""
    requires: tuple[str, ...] = ()  # other families it needs
    debian_packages: tuple[str, ...] = ()
    venvs: tuple[str, ...] = ()  # data/requirements-<name>.txt
    databases: tuple[str, ...] = ()
    service_users: tuple[str, ...] = ()
    catalog: tuple[CatalogEntry, ...] = ()
    templates: tuple[tuple[str, str], ...] = ()  # (template, etc/ path)
    # Running services that must restart when this family is enabled in
    # an existing lab (their configuration depends on it).
    reconfigures: tuple[str, ...] = ()
    # OpenStack-Ansible's service name -> the lab service it names, so
    # that the study catalogue's faults reach the lab by the same names.
    aliases: dict[str, str] = {}

    def substitutions(self, config: LabConfig) -> dict[str, str]:
        return {}

    def render(self, config: LabConfig, values: dict[str, str]) -> None:
        from rally_osic.lab import render

        for template, destination in self.templates:
            render.write(config, template, destination, values)

    def preflight(self, config: LabConfig) -> None:
        """Refuse this machine (``steps.SetupError``, one line) before
        the lab starts anything, once the Debian packages are in."""

    def setup(self, run) -> None:
        pass

    def services(self, config: LabConfig) -> list[Service]:
        return []

    def groups(self, config: LabConfig) -> dict[str, tuple[str, ...]]:
        return {}

    def ready(self, run) -> None:
        pass

    def cleanup(self, config: LabConfig) -> list[str]:
        """Remove what the services left behind, once all but the last
        ("last": epmd, node holders) are stopped; what it did."""
        return []

    def status(self, config: LabConfig, rows: list[dict]) -> None:
        """Refine the health of ``rows`` with the service's own view."""

    def packages(self, config: LabConfig) -> tuple[str, ...]:
        """The Debian packages this lab needs for the family."""
        return self.debian_packages

    def retire(self, config: LabConfig) -> list[str]:
        """Undo on this machine what the family changed, once it is
        dropped from the lab (``--computes fake``) and its services are
        stopped; what it did."""
        return []

    def retire_in_cloud(self, session) -> list[str]:
        """Undo in the cloud what the family registered, once the lab
        without it is up (its APIs answer then); what it did."""
        return []


# In start order; the core families first.
MODULES = (
    "infra",
    "keystone",
    "glance",
    "placement",
    "nova",
    "neutron",
    "nova_extra",
    "neutron_agents",
    "ceph",
    "cinder",
    "swift",
    "libvirt",
    "libvirt_rbd",
)


def all_families() -> list[Family]:
    return [
        importlib.import_module(f"rally_osic.lab.families.{name}").FAMILY
        for name in MODULES
    ]


def optional_names() -> list[str]:
    return [family.name for family in all_families() if family.optional]


def compute_names() -> list[str]:
    return [family.name for family in all_families() if family.computes]


def resolve(names) -> tuple[str, ...]:
    """Optional family names, with what they require, in module order.

    ``all`` stands for every optional service family (not the compute
    hosts of ``lab up --computes``). Raises ValueError for an unknown
    name.
    """
    known = {family.name: family for family in all_families()}
    wanted: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name == "all":
            todo += [n for n in optional_names() if n not in compute_names()]
            continue
        if name not in known:
            raise ValueError(
                f"unknown service family {name!r} (choose from: "
                f"{', '.join(optional_names() + ['all'])})"
            )
        if name not in wanted:
            wanted.add(name)
            todo += list(known[name].requires)
    return tuple(
        family.name
        for family in all_families()
        if family.name in wanted and family.optional
    )


def enabled(config: LabConfig) -> list[Family]:
    chosen = set(config.families)
    return [
        family
        for family in all_families()
        if not family.optional or family.name in chosen
    ]
