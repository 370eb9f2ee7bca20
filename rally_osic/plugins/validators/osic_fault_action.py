"""Validator: the ``osic_fault`` hook's fault can run, checked at
``rally task validate`` time rather than minutes into the load."""

from __future__ import annotations

from rally.common import validation


@validation.configure(name="osic_fault_action")
class OsicFaultActionValidator(validation.Validator):
    """Check an ``osic_fault`` hook config as the hook would at run time.

    The os-faults sentence must parse with the package's own parser (the
    one the hook runs), a stress needs a kind (cpu, memory, disk) and a
    duration, a service action a service; an os-faults config given in the
    hook itself must load and name the service and nodes of the fault. The
    failure message is the hook's own.
    """

    def validate(self, context, config, plugin_cls, plugin_cfg):
        if not isinstance(plugin_cfg, dict) or not isinstance(
            plugin_cfg.get("action"), str | dict
        ):
            return  # the JSON schema validator reports the shape
        # Imported here: Rally loads every plugin module at start-up.
        from rally_osic.faults import hookrun, osf
        from rally_osic.faults import spec as specs
        from rally_osic.faults import targets as tg

        try:
            hookrun.check(plugin_cfg)
        except (
            specs.FaultError,
            osf.FaultConfigError,
            tg.TargetError,
        ) as exc:
            self.fail(str(exc).splitlines()[0] if str(exc) else repr(exc))
