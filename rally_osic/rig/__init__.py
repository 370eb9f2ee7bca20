"""A real live-migration rig on one machine: two namespaced libvirtds
and a small TCG guest (see hosts.py and guest.py). The tests and the
benchmarks build it; issue 13's lab computes can reuse both parts."""
