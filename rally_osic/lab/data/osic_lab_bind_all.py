"""ML2 mechanism driver of the rally-osic lab: binds the fake computes'
and the libvirt hosts' ports.

The lab's nova-computes use the fake virt driver: no hypervisor, no
vswitch and no L2 agent, so no real mechanism driver can bind their
ports, and Nova's boots with a network fail (PortBindingFailed). This
driver binds each port of the hosts in ``[osic_lab_bind_all] hosts``
(every host when empty) on the first segment with vif type ``ovs`` and
marks it ACTIVE; nova's fake virt driver plugs nothing anyway. On the
libvirt hosts (lab up --computes libvirt) the binding is hybrid, as
neutron's iptables_hybrid firewall has it: os-vif joins a Linux bridge
(qbr) to the host's br-int with a veth pair it brings up first, and
libvirt puts the guest's tap into that bridge. A tap plugged straight
into br-int is opened by ovs-vswitchd while libvirt brings it up, and
vswitchd's read-modify-write of its flags (to set it promiscuous) now
and then lost libvirt's "up" on a busy machine (one of the two guests of
a run): that guest never got an address. br-int's uplink reaches the
other host and the network node through the lab's fabric: no agent there
sets flows, so br-int is a learning switch. Ports of the lab's network
node (DHCP, routers) are bound by the openvswitch driver, which comes
first, for the real OVS agent there.

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
                {
                    "port_filter": False,
                    "ovs_hybrid_plug": True,
                    # The libvirt hosts' Open vSwitch has no kernel
                    # datapath here (os-vif creates br-int with this).
                    "datapath_type": "netdev",
                    "bridge_name": "br-int",
                },
                status="ACTIVE",
            )
            return
