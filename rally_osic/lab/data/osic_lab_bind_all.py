"""ML2 mechanism driver of the rally-osic lab: binds the fake computes'
ports.

The lab's nova-computes use the fake virt driver: no hypervisor, no
vswitch and no L2 agent, so no real mechanism driver can bind their
ports, and Nova's boots with a network fail (PortBindingFailed). This
driver binds each port of the hosts in ``[osic_lab_bind_all] hosts``
(every host when empty) on the first segment with vif type ``ovs`` and
marks it ACTIVE; nova's fake virt driver plugs nothing anyway. Ports of
the lab's network node (DHCP, routers) are bound by the openvswitch
driver, which comes first, for the real OVS agent there.

``rally-osic lab up`` installs it into the neutron venv under the entry
point ``neutron.ml2.mechanism_drivers: osic_lab_bind_all``.
"""

from neutron_lib.plugins.ml2 import api
from oslo_config import cfg

OPTS = [
    cfg.ListOpt(
        "hosts", default=[], help="hosts whose ports this driver binds"
    )
]


class BindAllMechanismDriver(api.MechanismDriver):
    def initialize(self):
        cfg.CONF.register_opts(OPTS, "osic_lab_bind_all")

    def bind_port(self, context):
        hosts = cfg.CONF.osic_lab_bind_all.hosts
        if hosts and context.host not in hosts:
            return
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                "ovs",
                {"port_filter": False, "ovs_hybrid_plug": False},
                status="ACTIVE",
            )
            return
