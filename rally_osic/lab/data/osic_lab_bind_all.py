"""ML2 mechanism driver of the rally-osic lab: binds every port.

The lab runs neutron's API without any agent, so no real mechanism driver
can bind a port and Nova's boots with a network fail (PortBindingFailed).
This driver binds each port on the first segment with vif type ``ovs`` and
marks it ACTIVE; nova's fake virt driver plugs nothing anyway.

``rally-osic lab up`` installs it into the neutron venv under the entry
point ``neutron.ml2.mechanism_drivers: osic_lab_bind_all``.
"""

from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                "ovs",
                {"port_filter": False, "ovs_hybrid_plug": False},
                status="ACTIVE",
            )
            return
