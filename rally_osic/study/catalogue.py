"""The study catalogue: every test of both studies, and what it runs.

Pure module (YAML in, dataclasses out; no Rally). The catalogue file is
``rally_osic/study/catalogue.yaml``; its header says how a test's task
args are built.
"""

from __future__ import annotations

import copy
import dataclasses
import pathlib
import re
from collections.abc import Iterable

from rally_osic.errors import CommandError

CATALOGUE = pathlib.Path(__file__).resolve().with_name("catalogue.yaml")
TEMPLATES = pathlib.Path(__file__).resolve().with_name("templates")
# Whatever else a run costs besides its load: Rally's contexts (users,
# networks), the hook's checks, the report export.
RUN_OVERHEAD = 30.0
NUMBER = re.compile(r"^(?:[1-9][0-9]*|LM)\.[1-9][0-9]*$")


class CatalogueError(CommandError):
    """A catalogue that cannot be read, or a selection it cannot serve."""

    exit_code = 2


@dataclasses.dataclass(frozen=True)
class Removed:
    release: str
    modern: str | None
    why: str

    def reason(self) -> str:
        text = f"removed in {self.release}: {self.why}"
        if self.modern:
            text += f" (today's counterpart: {self.modern})"
        return text


@dataclasses.dataclass(frozen=True)
class Entry:
    number: str
    title: str
    section: str
    section_title: str
    template: str
    args: dict  # defaults, section and test args, fault: no user overrides
    fault: dict | None
    runs: int = 1
    runs_source: str = ""
    removed: Removed | None = None
    in_study: bool = True
    evacuation_minutes: float | None = None
    variants: dict = dataclasses.field(default_factory=dict)
    study: dict = dataclasses.field(default_factory=dict)  # its figures

    @property
    def service(self) -> str | None:
        return (self.fault or {}).get("service")

    @property
    def action(self) -> str | None:
        fault = self.fault or {}
        return fault.get("action") or fault.get("node_action")


@dataclasses.dataclass(frozen=True)
class Catalogue:
    entries: tuple[Entry, ...]

    def get(self, number: str) -> Entry:
        for entry in self.entries:
            if entry.number == number:
                return entry
        raise CatalogueError(
            f"no test {number!r} in the catalogue (rally-osic study list)"
        )

    def select(
        self,
        numbers: Iterable[str] = (),
        services: Iterable[str] = (),
        actions: Iterable[str] = (),
        sections: Iterable[str] = (),
    ) -> list[Entry]:
        """Tests in catalogue order: the numbers given (each must exist),
        else every test; then only those of the services, actions and
        sections given."""
        numbers = list(numbers)
        chosen = (
            [self.get(n) for n in dict.fromkeys(numbers)]
            if numbers
            else list(self.entries)
        )
        order = {entry.number: i for i, entry in enumerate(self.entries)}
        chosen.sort(key=lambda entry: order[entry.number])
        for values, of in (
            (services, lambda e: e.service),
            (actions, lambda e: e.action),
            (sections, lambda e: e.section),
        ):
            wanted = set(values)
            if wanted:
                chosen = [e for e in chosen if of(e) in wanted]
        return chosen


def load(path: str | pathlib.Path | None = None) -> Catalogue:
    import yaml

    source = pathlib.Path(path) if path else CATALOGUE
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogueError(f"{source}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise CatalogueError(f"{source}:{where} is not valid YAML") from None
    try:
        return parse(document)
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogueError(f"{source}: {exc}") from None


def parse(document) -> Catalogue:
    if not isinstance(document, dict) or document.get("version") != 1:
        raise ValueError("not a version 1 study catalogue")
    defaults = _mapping(document.get("defaults"), "defaults")
    entries: list[Entry] = []
    seen: set[str] = set()
    for section in document["sections"]:
        key = str(section["section"])
        template = str(section["template"])
        section_args = _mapping(section.get("args"), f"section {key} args")
        variants = _mapping(section.get("variants"), f"section {key}")
        for test in section["tests"]:
            number = str(test["number"])
            if not NUMBER.match(number) or number in seen:
                raise ValueError(f"bad or repeated test number {number!r}")
            seen.add(number)
            fault = test.get("fault")
            if fault is not None and not isinstance(fault, dict):
                raise ValueError(f"test {number}: fault is not a mapping")
            args = merged(
                defaults if fault else {},
                section_args,
                _mapping(test.get("args"), f"test {number} args"),
            )
            if fault:
                args["fault"] = copy.deepcopy(fault)
                args["test_number"] = number
                args["test_title"] = str(test["title"])
            removed = test.get("removed")
            runs = test.get("runs", 1)
            if not isinstance(runs, int) or runs < 1:
                raise ValueError(f"test {number}: runs must be 1 or more")
            entries.append(
                Entry(
                    number=number,
                    title=str(test["title"]),
                    section=key,
                    section_title=str(section["title"]),
                    template=template,
                    args=args,
                    fault=copy.deepcopy(fault),
                    runs=runs,
                    runs_source=str(test.get("runs_source", "")),
                    removed=Removed(**removed) if removed else None,
                    in_study=bool(test.get("in_study", True)),
                    evacuation_minutes=test.get("evacuation_minutes"),
                    variants=variants,
                    study=_mapping(test.get("study"), f"test {number} study"),
                )
            )
    return Catalogue(tuple(entries))


def _mapping(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a mapping")
    return value


def merged(*layers: dict) -> dict:
    """Later layers win; mappings merge key by key, anything else is
    replaced (a user's ``scenario_args.flavor`` keeps the image)."""
    out: dict = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merged(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def task_args(
    entry: Entry, overrides: dict | None = None, variant: str | None = None
) -> dict:
    """The task args of one test, with a section variant and the user's
    overrides: those for every test, then those under ``section_args``
    for the test's section (``{"section_args": {"7": {"scenario_args":
    {"flavor": {"name": "m1.small"}}}}}``)."""
    overrides = dict(overrides or {})
    by_section = overrides.pop("section_args", None) or {}
    if not isinstance(by_section, dict):
        raise CatalogueError("section_args must map sections to task args")
    own = by_section.get(entry.section) or {}
    if not isinstance(own, dict):
        raise CatalogueError(
            f"section_args of section {entry.section} is not a mapping"
        )
    layers = [entry.args]
    if variant:
        if variant not in entry.variants:
            known = ", ".join(sorted(entry.variants)) or "none"
            raise CatalogueError(
                f"test {entry.number} has no variant {variant!r} "
                f"(it has {known})"
            )
        layers.append(entry.variants[variant])
    layers += [overrides, own]
    return merged(*layers)


def estimated_seconds(entry: Entry, args: dict) -> float:
    """How long one run takes: the load for a fault test; for an
    evacuation, the study's mean time to evacuate its host (6 servers),
    scaled to the servers and round trips asked for."""
    if entry.fault:
        load = (
            float(args.get("baseline", 120))
            + float(args.get("recover_within", 300))
            + float(args.get("tail", 30))
        )
        return load + RUN_OVERHEAD
    minutes = entry.evacuation_minutes or 0.0
    servers = float(args.get("servers", 6))
    evacuations = 2 * float(args.get("round_trips", 20))
    return minutes * 60 * evacuations * servers / 6 + RUN_OVERHEAD
