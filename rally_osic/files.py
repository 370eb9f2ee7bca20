"""Writing a user's files: whole or not at all."""

from __future__ import annotations

import os
import pathlib
import tempfile


def write_atomic(
    path: str | os.PathLike, content: str | bytes, mode: int = 0o644
) -> None:
    """Write via a temporary file in the same folder and rename it over
    ``path``: a reader sees the old file or the new one, never a part.
    The temporary file is removed on any failure, Ctrl-C and SIGTERM
    (see :class:`rally_osic.errors.Terminated`) included."""
    path = pathlib.Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent)
    )
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
