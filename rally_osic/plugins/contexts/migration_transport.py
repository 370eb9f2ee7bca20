"""Context ``osic_migration_transport``: the computes' live-migration
options for the run, restored afterwards."""

from __future__ import annotations

import datetime
import time

from rally import consts, exceptions
from rally.common import logging, validation
from rally.task import context

LOG = logging.getLogger(__name__)

OPTION_SCHEMA = {
    "permit_auto_converge": {"type": "boolean"},
    "permit_post_copy": {"type": "boolean"},
    "completion_timeout": {"type": "integer"},
    "timeout_action": {"type": "string"},
    "downtime": {"type": "integer"},
    "downtime_steps": {"type": "integer"},
    "downtime_delay": {"type": "integer"},
    "bandwidth": {"type": "integer"},
}


class TransportToggleError(exceptions.RallyException):
    error_code = 721
    msg_fmt = "%(message)s"


@validation.add("required_platform", platform="openstack", admin=True)
@context.configure(
    name="osic_migration_transport", platform="openstack", order=420
)
class MigrationTransport(context.Context):
    """Set the computes' ``[libvirt]`` live-migration options in nova.conf
    for the run, restart nova-compute, and put everything back after.

    ``transport`` is one choice of ``native`` (both
    ``live_migration_tunnelled`` and ``live_migration_with_native_tls``
    false), ``tunnelled`` or ``native_tls`` (Nova deprecates tunnelling in
    favour of native TLS and refuses both at once). ``options`` sets
    ``live_migration_permit_auto_converge`` (``permit_auto_converge``),
    ``..._permit_post_copy``, ``..._completion_timeout``,
    ``..._timeout_action`` (abort or force_complete),
    ``live_migration_downtime`` (ms, at least 100), ``..._downtime_steps``
    (at least 3), ``..._downtime_delay`` (at least 3) and
    ``..._bandwidth``. Values are checked as Nova's option definitions do,
    before any file is touched.

    It goes through the fault layer: the os-faults config (``config_file``,
    else the env extra ``os_faults_config``, ``$OS_FAULTS_CONFIG``, ...,
    as for the ``osic_fault`` hook) names the nodes and how to restart
    their ``nova-compute`` (local, SSH, ``lxc-attach``). Each compute's
    file and service come from that config's ``osic.nova_computes``, else
    ``config_file_path`` (default ``/etc/nova/nova.conf``) and ``service``
    (default ``nova-compute``) on the node named like the compute host.
    ``computes`` defaults to every nova-compute Nova reports up.

    The changed computes restart together; it waits (``up_timeout``)
    until Nova reports each compute service up with a heartbeat newer
    than its restart. The
    effective values, read back from the files, are in the context (the
    evacuation scenario records them). At cleanup, also after a failure
    or ``rally task abort``, the original files are written back byte for
    byte and the computes restarted again.

    A value Nova would reject, or an unreachable compute, is a one-line
    error, and the files are left as they were.
    """

    CONFIG_SCHEMA = {
        "type": "object",
        "$schema": consts.JSON_SCHEMA7,
        "properties": {
            "transport": {"enum": ["native", "tunnelled", "native_tls"]},
            "options": {
                "type": "object",
                "properties": OPTION_SCHEMA,
                "additionalProperties": False,
            },
            "computes": {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
            },
            "config_file": {"type": "string", "minLength": 1},
            "config_file_path": {"type": "string", "minLength": 1},
            "service": {"type": "string", "minLength": 1},
            "up_timeout": {"type": "number", "minimum": 1},
        },
        "additionalProperties": False,
    }
    DEFAULT_CONFIG = {"up_timeout": 180}

    def _nova(self):
        from rally_openstack.common import osclients

        return osclients.Clients(self.context["admin"]["credential"]).nova(
            "2.1"
        )

    def _wait_up(self, host: str, restarted_at: float) -> None:
        """Nova's service record of ``host``: up, heartbeat after the
        restart returned. Its timestamps are cut to whole seconds, so
        only a later second is surely after."""
        nova = self._nova()
        timeout = self.config["up_timeout"]
        deadline = time.monotonic() + timeout
        state = "not listed"
        while time.monotonic() < deadline:
            for service in nova.services.list(
                host=host, binary="nova-compute"
            ):
                beat = _timestamp(service.updated_at)
                state = f"{service.state}, heartbeat {service.updated_at}"
                if service.state == "up" and beat > int(restarted_at):
                    return
            time.sleep(1)
        raise TransportToggleError(
            message=f"nova-compute on {host} not reported up within "
            f"{timeout:g} s of its restart ({state})"
        )

    def setup(self) -> None:
        from rally_osic.faults import novaconf, osf, reconfigure

        try:
            values = novaconf.settings(
                self.config.get("transport"), self.config.get("options")
            )
        except novaconf.NovaConfError as exc:
            raise TransportToggleError(message=str(exc)) from None
        try:
            config, _source = osf.find_config(
                {"config_file": self.config.get("config_file")},
                (self.context.get("env") or {}).get("extras") or {},
            )
        except osf.FaultConfigError as exc:
            raise TransportToggleError(message=str(exc)) from None
        # A compute that is down cannot be restarted into the new
        # options, nor take a migration.
        hosts = self.config.get("computes") or sorted(
            s.host
            for s in self._nova().services.list(binary="nova-compute")
            if s.state == "up"
        )
        try:
            targets = reconfigure.computes(
                config,
                hosts,
                self.config.get("config_file_path"),
                self.config.get("service"),
            )
        except reconfigure.ReconfigureError as exc:
            raise TransportToggleError(message=str(exc)) from None
        self._change = reconfigure.Reconfiguration(
            config, targets, self._wait_up
        )
        started = time.monotonic()
        try:
            effective = self._change.apply(values)
        except reconfigure.ReconfigureError as exc:
            raise TransportToggleError(message=str(exc)) from None
        transports = {novaconf.transport_of(v) for v in effective.values()}
        self.context["osic_migration_transport"] = {
            "transport": transports.pop() if len(transports) == 1 else "mixed",
            "requested": values,
            "effective": effective,
            "computes": {
                t.host: {"node": t.node, "config_file": t.config_file}
                for t in targets
            },
            "restart_seconds": round(time.monotonic() - started, 1),
        }
        chosen = self.context["osic_migration_transport"]["transport"]
        LOG.info(f"live-migration transport {chosen} on {', '.join(hosts)}")

    def cleanup(self) -> None:
        change = getattr(self, "_change", None)
        if change is None:
            return
        errors = change.restore()
        for error in errors:
            LOG.error(f"restoring nova.conf: {error}")
        if errors:
            raise TransportToggleError(message="; ".join(errors))


def _timestamp(text: str | None) -> float:
    if not text:
        return 0.0
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.timestamp()
