"""The guard on rally-openstack's server listing for cleanup.

Nova's answers are replayed by a stand-in for ``client.servers``: the state
that triggers the bug (a server left both as a build request and in a cell
by a nova-conductor killed mid-boot) came up once in the lab's end-to-end
run and cannot be produced on demand. The stand-in follows nova 34's
``compute.api.API.get_all``: build requests first, then the cells; a marker
found among the build requests lists the cells from the start.
"""

import types

import pytest

from rally_osic.plugins.workarounds import nova_server_listing


class NovaServers:
    def __init__(self, build_requests, cell_instances, page_size=1000):
        self.build_requests = build_requests
        self.cell_instances = cell_instances
        self.page_size = page_size
        self.calls = 0

    def _list(self, url, response_key, filters):
        self.calls += 1
        if self.calls > 50:
            raise RuntimeError("still paging after 50 requests")
        marker = filters.get("marker")
        builds, cells = self.build_requests, self.cell_instances
        if marker in builds:
            builds = builds[builds.index(marker) + 1 :]
        elif marker in cells:
            builds, cells = [], cells[cells.index(marker) + 1 :]
        ids = list(dict.fromkeys(builds + cells))[: self.page_size]
        return [types.SimpleNamespace(id=server_id) for server_id in ids]


@pytest.fixture(autouse=True)
def rally_options():
    # list_servers reads [openstack] nova_servers_list_page_size.
    from rally.common import opts

    opts.register_options_from_path(
        "rally_openstack.common.cfg.opts:list_opts"
    )


def client(servers):
    return types.SimpleNamespace(servers=servers)


def test_upstream_pages_forever_on_a_server_in_both_places():
    from rally_openstack.task.scenarios.nova import utils

    unguarded = utils.list_servers.__wrapped__
    stuck = NovaServers(["stuck"], ["stuck"])
    with pytest.raises(RuntimeError, match="still paging"):
        unguarded(client(stuck))


def test_guard_stops_and_still_returns_the_stuck_server():
    from rally_openstack.task.scenarios.nova import utils

    stuck = NovaServers(["stuck"], ["stuck"])
    servers = utils.list_servers(client(stuck))
    assert [server.id for server in servers] == ["stuck"]
    assert stuck.calls == 2


@pytest.mark.parametrize("page_size", [1, 2, 1000])
def test_guard_changes_nothing_while_nova_pages_normally(page_size):
    from rally_openstack.task.scenarios.nova import utils

    def listing(list_servers):
        nova = NovaServers(["b1"], ["c1", "c2", "c3"], page_size=page_size)
        ids = [server.id for server in list_servers(client(nova))]
        return ids, nova.calls

    assert listing(utils.list_servers) == listing(
        utils.list_servers.__wrapped__
    )
    assert listing(utils.list_servers)[0] == ["b1", "c1", "c2", "c3"]


def test_guard_is_installed_once():
    from rally_openstack.task.scenarios.nova import utils

    again = nova_server_listing.stop_on_repeated_pages(utils.list_servers)
    assert again is utils.list_servers
