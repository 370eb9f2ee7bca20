"""The report's output folder (``-o``): the user's, shared with the report.

The report writes ``report.html``, ``report.pdf``, ``fault-verdicts.xml``
and ``charts/NNNN.png|svg`` there and touches nothing else: a user's own
files, in the folder or in ``charts/``, stay. Everything is first built in
a staging folder inside it (``.report-XXXXXXXX``), then moved into place
with renames, so a reader sees whole files. The manifest
``.rally-osic-report.json`` lists what the report wrote; a later run
removes only the files of that list that it does not write again (the
charts of runs that are gone). The staging folder is removed on success,
on an error, on Ctrl-C and on SIGTERM (:class:`rally_osic.errors.
Terminated`); one left by a killed run (SIGKILL) is removed by the next
run, which holds a lock on the folder so that two runs never write it at
once.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pathlib
import secrets
import shutil

from rally_osic.errors import CommandError
from rally_osic.files import write_atomic

MANIFEST = ".rally-osic-report.json"
STAGING_PREFIX = ".report-"
OLD_CHARTS = ".charts.old"  # left by releases that swapped charts/ whole


class OutputFolder:
    """Use as ``with OutputFolder(path) as folder: ... folder.commit(...)``."""

    def __init__(self, path: str, charts_dir: str = "charts") -> None:
        if not path or not path.strip():
            raise CommandError("-o needs a folder name (got an empty one)")
        self.path = pathlib.Path(path)
        self.charts_dir = charts_dir
        self.created = False
        self.staging: pathlib.Path | None = None
        self.committed = False
        self._lock_fd: int | None = None

    @property
    def staged_charts(self) -> pathlib.Path:
        assert self.staging is not None
        return self.staging / self.charts_dir

    def __enter__(self) -> OutputFolder:
        path = self.path
        if path.exists() and not path.is_dir():
            raise CommandError(f"-o {path}: is a file, not a folder")
        if not path.exists():
            # Marked before it exists: a SIGTERM right after the mkdir
            # must still find it to remove (the same for the staging).
            self.created = True
            try:
                path.mkdir(parents=True)
            except FileExistsError:
                self.created = False
            except OSError as exc:
                self.created = False
                raise CommandError(
                    f"-o {path}: cannot create the folder: "
                    f"{exc.strerror or exc}"
                ) from None
            except BaseException:
                self._close()
                raise
        try:
            self._lock()
            self._remove_leftovers()
            self._make_staging()
            self.staged_charts.mkdir()
        except OSError as exc:
            self._close()
            raise CommandError(
                f"-o {path}: cannot write there: {exc.strerror or exc}"
            ) from None
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self._close()

    def _make_staging(self) -> None:
        for _ in range(100):
            self.staging = self.path / (STAGING_PREFIX + secrets.token_hex(4))
            try:
                self.staging.mkdir(mode=0o700)
                return
            except FileExistsError:
                continue
        # (On any other error _close's rmtree of a name that does not
        # exist is harmless.)
        self.staging = None
        raise FileExistsError(errno.EEXIST, "no free staging folder name")

    def _close(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if self.created and not self.committed:
            try:
                self.path.rmdir()  # only if nothing else is in it
            except OSError:
                pass
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def _lock(self) -> None:
        self._lock_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise CommandError(
                f"-o {self.path}: another rally-osic report is writing "
                "this folder"
            ) from None

    def _remove_leftovers(self) -> None:
        """Staging folders of killed runs; the old charts swap folder.
        Only names this module creates, and only while holding the lock."""
        for entry in self.path.iterdir():
            name = entry.name
            if (
                name.startswith(STAGING_PREFIX) or name == OLD_CHARTS
            ) and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)

    def _manifest(self) -> list[str]:
        try:
            data = json.loads((self.path / MANIFEST).read_text())
            written = data.get("written") if isinstance(data, dict) else None
        except (OSError, ValueError):
            return []
        if not isinstance(written, list):
            return []
        return [name for name in written if self._ours(name)]

    def _ours(self, name) -> bool:
        """A name the report could have written: no escape from the
        folder, whatever the manifest says."""
        if not isinstance(name, str):
            return False
        parts = pathlib.PurePosixPath(name).parts
        return (len(parts) == 1 and not name.startswith(".")) or (
            len(parts) == 2
            and parts[0] == self.charts_dir
            and not parts[1].startswith(".")
        )

    def _write_manifest(self, written: list[str]) -> None:
        document = {"written_by": "rally-osic report", "written": written}
        write_atomic(
            self.path / MANIFEST, json.dumps(document, indent=1) + "\n"
        )

    def commit(self, files: dict[str, str | bytes]) -> None:
        """Move the staged charts into place, write ``files`` (name ->
        content), and remove what an earlier run wrote that this one did
        not."""
        assert self.staging is not None
        charts = sorted(p.name for p in self.staged_charts.iterdir())
        written = [f"{self.charts_dir}/{name}" for name in charts]
        written += list(files)
        previous = self._manifest()
        # Listed before they are written: an interrupted commit leaves no
        # file of ours that the next run does not know about.
        self._write_manifest(sorted(set(previous) | set(written)))
        target = self.path / self.charts_dir
        if charts:
            if target.exists() and not target.is_dir():
                raise CommandError(
                    f"-o {self.path}: {self.charts_dir} exists and is not "
                    "a folder"
                )
            target.mkdir(exist_ok=True)
            for name in charts:
                os.replace(self.staged_charts / name, target / name)
        for name, content in files.items():
            write_atomic(self.path / name, content)
        for name in sorted(set(previous) - set(written)):
            stale = self.path / name
            if stale.is_file() and not stale.is_symlink():
                stale.unlink()
        self._write_manifest(sorted(written))
        self.committed = True
