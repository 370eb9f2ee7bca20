"""Every test of both studies, and a study run that survives interruptions.

* :mod:`.catalogue`: the tests (pure);
* :mod:`.render`: a test as a Rally task file;
* :mod:`.folder`: a study's folder: its plan and finished runs;
* :mod:`.runner`: runs the plan with ``rally task start``;
* :mod:`.cli`: ``rally-osic study list | render | run``.
"""
