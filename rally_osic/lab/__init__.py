"""A small, real OpenStack on 127.0.0.1, built from PyPI and Debian only.

``rally-osic lab up|down|status|env``. Layout of the state directory
(default ``.lab`` in the working tree, or ``$RALLY_OSIC_LAB_DIR``)::

    lab.json            settings chosen at the first ``up`` (ports, venvs)
    secrets.json        generated passwords
    etc/                rendered configuration files
    run/<service>.pid   one pidfile per service the lab started
    log/<service>.log   one log per service, plus log/setup.log
    data/               MariaDB, RabbitMQ, Glance images, Nova state
    os-faults.json      os-faults config for every service (``lab env``)
    lab-services.json   the same services, machine-readable (``lab env``)
    rally-env.json      the spec given to ``rally env create``

Modules: :mod:`.config` (settings, ports, secrets), :mod:`.families`
(one module per service family behind one small interface: what it
installs, configures, runs and registers), :mod:`.services` (the
service model), :mod:`.procs` (pidfiles, start/stop, waits),
:mod:`.render` (configuration files), :mod:`.steps` (packages, venvs,
logged set-up commands), :mod:`.catalog` (keystone's catalog),
:mod:`.envfiles` (Rally and os-faults files), :mod:`.lab`
(up/down/status/env), :mod:`.cli`.
"""
