"""WSGI entry points of the rally-osic lab, served by gunicorn.

Used as ``gunicorn --pythonpath <this dir> osic_lab_wsgi:keystone()``
inside the services (or neutron) venv; ``OSIC_LAB_ETC`` names the lab's
configuration directory. The OpenStack apps parse ``sys.argv`` with
oslo.config when they are imported and reject gunicorn's arguments, so
each factory empties it first.
"""

import os
import sys


def _prepare(prog):
    sys.argv = [prog]
    return os.environ["OSIC_LAB_ETC"]


def keystone():
    etc = _prepare("keystone")
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = f"{etc}/keystone/keystone.conf"
    from keystone.wsgi import api

    return api.application


def glance():
    etc = _prepare("glance-api")
    os.environ["OS_GLANCE_CONFIG_DIR"] = f"{etc}/glance"
    from glance.wsgi import api

    return api.application


def placement():
    etc = _prepare("placement-api")
    os.environ["OS_PLACEMENT_CONFIG_DIR"] = f"{etc}/placement"
    from placement.wsgi import api

    return api.application


def nova_api():
    etc = _prepare("nova-api")
    os.environ["OS_NOVA_CONFIG_DIR"] = f"{etc}/nova"
    os.environ["OS_NOVA_CONFIG_FILES"] = "api-paste.ini;nova.conf"
    from nova.wsgi import osapi_compute

    return osapi_compute.application


def neutron():
    etc = _prepare("neutron-api")
    os.environ["OS_NEUTRON_CONFIG_DIR"] = f"{etc}/neutron"
    os.environ["OS_NEUTRON_CONFIG_FILES"] = "neutron.conf;ml2_conf.ini"
    from neutron import policy
    from neutron.wsgi import api

    # policy.init() publishes its enforcer before loading the rules: the
    # first concurrent requests after a restart were denied (403).
    policy.init()
    return api.application


def cinder():
    etc = _prepare("cinder-api")
    sys.argv += ["--config-file", f"{etc}/cinder/cinder.conf"]
    from cinder.wsgi import api

    return api.application


def nova_metadata():
    etc = _prepare("nova-api-metadata")
    os.environ["OS_NOVA_CONFIG_DIR"] = f"{etc}/nova"
    os.environ["OS_NOVA_CONFIG_FILES"] = "api-paste.ini;nova.conf"
    from nova.wsgi import metadata

    return metadata.application
