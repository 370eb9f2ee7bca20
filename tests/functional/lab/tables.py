"""The scenario's output tables of a workload, read from Rally's JSON."""

from __future__ import annotations


def output_tables(workload: dict, title: str) -> list[list[dict]]:
    """Each iteration's table ``title`` (in time order) as row dicts."""
    tables = []
    for iteration in sorted(workload["data"], key=lambda i: i["timestamp"]):
        for item in iteration["output"]["complete"]:
            if item["title"] == title:
                data = item["data"]
                tables.append(
                    [dict(zip(data["cols"], row)) for row in data["rows"]]
                )
    return tables
