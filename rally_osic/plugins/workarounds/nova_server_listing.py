"""Make Rally's cleanup stop listing servers when nova repeats a page.

A nova-conductor killed while it schedules a boot can leave the server
both as a build request and as an instance in a cell (the templates kill
conductors on purpose). Nova then answers ``GET /servers/detail?marker=X``
with server X again: the marker is found among the build requests, so the
cells are listed from the start. rally-openstack 4.1.0's cleanup
(``nova.utils.list_servers``) pages until a page is empty and asked the lab
for the same page 4,196 times in five minutes before the test gave up: the
task never finishes.

The guard wraps that function: a page that brings no server not seen
before ends the listing, as an empty page would. Every server found is
still returned, so cleanup deletes the stuck one too. Nothing changes while
nova pages normally.
"""

from __future__ import annotations

import functools
import logging

from rally_openstack.task.scenarios.nova import utils as nova_utils

LOG = logging.getLogger(__name__)


class _NewServersOnly:
    """``client.servers`` whose ``_list`` answers [] once nothing is new."""

    def __init__(self, servers) -> None:
        self._servers = servers
        self._seen: set[str] = set()

    def _list(self, *args, **kwargs):
        page = self._servers._list(*args, **kwargs)
        ids = {server.id for server in page}
        if ids and ids <= self._seen:
            LOG.warning(
                "nova answered the page after %s with servers already "
                "listed (%s); stopping the listing there (a server left "
                "both as a build request and in a cell)",
                kwargs.get("filters", {}).get("marker"),
                ", ".join(sorted(ids)),
            )
            return []
        self._seen |= ids
        return page

    def __getattr__(self, name):
        return getattr(self._servers, name)


class _Client:
    def __init__(self, client) -> None:
        self._client = client
        self.servers = _NewServersOnly(client.servers)

    def __getattr__(self, name):
        return getattr(self._client, name)


def stop_on_repeated_pages(list_servers):
    if getattr(list_servers, "stops_on_repeated_pages", False):
        return list_servers

    @functools.wraps(list_servers)
    def guarded(client, *args, **kwargs):
        return list_servers(_Client(client), *args, **kwargs)

    guarded.stops_on_repeated_pages = True
    return guarded


nova_utils.list_servers = stop_on_repeated_pages(nova_utils.list_servers)
