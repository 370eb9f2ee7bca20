"""Regenerate the synthetic samples (run from the repository root):

    python samples/make_samples.py

``rally-fault-real.json`` is not synthetic: it is the output of
``python -m tests.functional.report.rally_run samples/rally-fault-real.json 2``
(a real ``rally task start`` of a Rally scenario with sys_call hooks).
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.report import factory  # noqa: E402

CONFIGURATIONS = [
    (storage, tunnelled, flavor)
    for storage in ("shared", "local")
    for tunnelled in (True, False)
    for flavor in ("small", "medium", "large")
]


def main() -> None:
    here = pathlib.Path(__file__).resolve().parent
    study = factory.document(factory.study_workloads(), title="Sample study")
    (here / "fault-study-synthetic.json").write_text(json.dumps(study))
    migrations = [
        factory.live_migration_workload(
            storage,
            tunnelled,
            flavor,
            seed=index,
            failures=7 if flavor == "large" and not tunnelled else 0,
        )
        for index, (storage, tunnelled, flavor) in enumerate(CONFIGURATIONS)
    ]
    document = factory.document(
        migrations,
        task_uuid="11e00000-0000-4000-8000-000000000001",
        title="Live-migration sample",
    )
    (here / "live-migration.json").write_text(json.dumps(document))


if __name__ == "__main__":
    main()
