"""The study from Rally's database, for the ``whitepaper-*`` exporters."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterator
from typing import Any

from rally_osic.files import write_atomic
from rally_osic.report import loader


def workloads_from_db(tasks_results) -> Iterator[loader.LoadedWorkload]:
    """Rally's DB task records in the JSON 1.2 workload shape."""
    from rally.plugins.task.exporters.json_exporter import JSONExporter

    # Rally's own JSON exporter turns DB records into the 1.2 format.
    tasks = JSONExporter(tasks_results, None)._generate_tasks()
    for task_doc in tasks:
        task = loader.TaskInfo(source="rally database")
        for key in loader.TASK_KEYS:
            if task_doc.get(key) is not None:
                setattr(task, key, task_doc[key])
        try:
            from rally.common import version

            task.rally_version = version.version_string()
        except Exception:  # noqa: BLE001 - the version is decoration only
            pass
        number = 0
        for subtask in task_doc["subtasks"]:
            for workload in subtask["workloads"]:
                number += 1
                where = f"task {task.uuid}: workload {number}"
                loader.validate_workload(workload, where)
                yield loader.LoadedWorkload(
                    task, subtask.get("title", ""), workload, where, number
                )


def env_info(tasks_results) -> dict[str, Any]:
    """The Rally environments of the tasks (specs; masked later)."""
    info: dict[str, Any] = {}
    try:
        from rally.env import env_mgr
    except ImportError:
        return info
    for task in tasks_results:
        uuid = task.get("env_uuid")
        if not uuid or uuid in info:
            continue
        try:
            data = env_mgr.EnvManager.get(uuid).data
        except Exception:  # noqa: BLE001 - no DB, deleted env...
            continue
        info[data.get("name") or uuid] = {
            "uuid": uuid,
            "description": data.get("description", ""),
            "spec": data.get("spec", {}),
            "extras": data.get("extras", {}),
        }
    return info


def export(
    tasks_results, output_destination: str | None, pdf: bool
) -> dict[str, Any]:
    """Render the study; write it atomically; return Rally's report dict.

    The file is written here rather than returned under ``files``: Rally
    writes those in text mode, which cannot hold a PDF.
    """
    from rally_osic.report import render, study

    result = study.build_study(
        workloads_from_db(tasks_results),
        env_info=env_info(tasks_results),
        chart_formats=("svg",) if pdf else ("png",),
    )
    suffix = ".pdf" if pdf else ".html"
    html = render.render_html(result, for_pdf=pdf)
    if not output_destination:
        if not pdf:
            return {"print": html}
        uuids = "-".join(t.uuid[:8] for t in result.tasks) or "study"
        output_destination = f"rally-osic-{uuids}.pdf"
    path = pathlib.Path(os.path.expanduser(output_destination))
    if path.is_dir():
        path = path / f"report{suffix}"
    content = render.render_pdf(html) if pdf else html
    write_atomic(path, content)
    return {
        "open": "file://" + str(path.resolve()),
        "print": f"Report written to {path}",
    }
