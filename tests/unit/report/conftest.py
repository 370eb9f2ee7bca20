import json

import pytest

from tests.unit.report import factory


@pytest.fixture
def write_json(tmp_path):
    """Write a document to a file in tmp_path and return its path."""

    def write(document, name="results.json"):
        path = tmp_path / name
        path.write_text(json.dumps(document))
        return path

    return write


@pytest.fixture
def study_file(write_json):
    workloads = factory.study_workloads() + [
        factory.live_migration_workload("shared", True, "small", seed=7),
        factory.live_migration_workload(
            "local", False, "large", seed=8, failures=3
        ),
    ]
    return write_json(factory.document(workloads))
