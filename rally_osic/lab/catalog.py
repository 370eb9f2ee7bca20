"""Keystone's catalog and the lab's shared resources, in one process.

Users, roles, services and endpoints of every enabled family are created
with keystoneauth1 (about 25 ``openstack`` CLI calls took 60 s); each
family's part is done once (marker ``catalog-<family>``).
"""

from __future__ import annotations

import time

from rally_osic.lab import families, steps
from rally_osic.lab.config import REGION, LabConfig


def admin_session(config: LabConfig, timeout: float = 30):
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(
        auth_url=config.auth_url,
        username="admin",
        password=config.secrets["admin"],
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return session.Session(auth=auth, timeout=timeout)


IDENTITY = {"service_type": "identity"}


def _find(sess, path: str, key: str, **filters) -> dict | None:
    query = "&".join(f"{name}={value}" for name, value in filters.items())
    response = sess.get(f"{path}?{query}", endpoint_filter=IDENTITY)
    items = response.json()[key]
    return items[0] if items else None


def ensure(sess, path: str, key: str, body: dict, **filters) -> dict:
    found = _find(sess, path, key, **filters)
    if found:
        return found
    response = sess.post(path, json={key[:-1]: body}, endpoint_filter=IDENTITY)
    return response.json()[key[:-1]]


def register(config: LabConfig) -> None:
    """Service project, users, roles, services and endpoints."""
    todo = [
        family
        for family in families.enabled(config)
        if (family.service_users or family.catalog)
        and not steps.is_done(config, f"catalog-{family.name}")
    ]
    if not todo:
        return
    sess = admin_session(config)
    project = ensure(
        sess,
        "/v3/projects",
        "projects",
        {"name": "service", "domain_id": "default"},
        name="service",
    )
    roles = [
        ensure(sess, "/v3/roles", "roles", {"name": name}, name=name)
        for name in ("admin", "service")
    ]
    for family in todo:
        for name in family.service_users:
            user = ensure(
                sess,
                "/v3/users",
                "users",
                {
                    "name": name,
                    "domain_id": "default",
                    "password": config.secrets["service"],
                },
                name=name,
            )
            for role in roles:
                sess.put(
                    f"/v3/projects/{project['id']}/users/{user['id']}"
                    f"/roles/{role['id']}",
                    endpoint_filter=IDENTITY,
                )
        for entry in family.catalog:
            service = ensure(
                sess,
                "/v3/services",
                "services",
                {"type": entry.service_type, "name": entry.name},
                type=entry.service_type,
            )
            for interface in ("public", "internal", "admin"):
                ensure(
                    sess,
                    "/v3/endpoints",
                    "endpoints",
                    {
                        "service_id": service["id"],
                        "interface": interface,
                        "region_id": REGION,
                        "url": config.url(entry.port, entry.path),
                    },
                    service_id=service["id"],
                    interface=interface,
                )
        steps.mark_done(config, f"catalog-{family.name}")


def wait_until(check, timeout: float, what: str, log_hint: str) -> None:
    """Poll ``check()`` (truthy when done) every second until ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return
        time.sleep(1)
    raise steps.SetupError(
        f"{what} not ready after {timeout:.0f} s; see {log_hint}"
    )
