"""A catalogue test as a Rally task: Rally's own Jinja2 rendering of the
test's template with its task args."""

from __future__ import annotations

from rally_osic.study import catalogue as cat


def render(entry: cat.Entry, args: dict) -> str:
    """The task file of ``entry`` with ``args`` (see
    :func:`catalogue.task_args`), as ``rally task start`` renders it."""
    from rally import api
    from rally import exceptions as rally_exceptions

    template = cat.TEMPLATES / entry.template
    try:
        text = template.read_text(encoding="utf-8")
    except OSError as exc:
        raise cat.CatalogueError(
            f"test {entry.number}: template {template}: {exc.strerror or exc}"
        ) from None
    try:
        return api._Task(None).render_template(
            task_template=text, template_dir=str(template.parent), **args
        )
    except (rally_exceptions.RallyException, TypeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise cat.CatalogueError(
            f"test {entry.number}: cannot render {entry.template}: {first}"
        ) from None
