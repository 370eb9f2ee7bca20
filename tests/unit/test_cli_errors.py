"""The dispatcher: one masked line for a user's error, exit codes for
errors and signals, and no traceback."""

import os
import signal
import subprocess
import sys
import textwrap
import time

from rally_osic import cli, errors
from rally_osic.output import safe_line, safe_text


def report_command_running(monkeypatch, func):
    """The real parser, with ``rally-osic report`` running ``func``."""
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    sub = parser._subparsers._group_actions[0].choices["report"]
    sub.set_defaults(func=func)


def test_safe_text_masks_and_escapes_unsafe_characters():
    text = "a\x00b \x1b[31m \u202eexe.txt \ud800 password=hunter2\n"
    out = safe_text(text)
    assert "hunter2" not in out and "password=******" in out
    for raw in ("\x00", "\x1b", "\u202e", "\ud800"):
        assert raw not in out
    assert "\\x00" in out and "\\x1b" in out and "\\u202e" in out
    assert out.endswith("\n") and safe_text(out) == out


def test_safe_line_is_one_bounded_line():
    out = safe_line("first\n\n  second\tpart\r\nOS_PASSWORD=x" + "y" * 2000)
    assert "\n" not in out and "\r" not in out and "\t" not in out
    assert out.startswith("first | second part | OS_PASSWORD=******")
    assert len(out) <= 1000


def test_command_error_is_one_masked_line(monkeypatch, capsys):
    def boom(args):
        raise errors.CommandError(
            "cannot reach mysql://nova:dbpass@10.0.0.2/nova\nsecond line"
        )

    report_command_running(monkeypatch, boom)
    assert cli.main(["report", "x.json", "-o", "out"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "dbpass" not in err
    assert err.startswith("rally-osic report: error: cannot reach mysql://")


def test_os_error_is_one_line(monkeypatch, capsys):
    def boom(args):
        raise PermissionError(13, "Permission denied", "/srv/out")

    report_command_running(monkeypatch, boom)
    assert cli.main(["report", "x.json", "-o", "out"]) == 1
    err = capsys.readouterr().err
    assert err == "rally-osic report: error: /srv/out: Permission denied\n"


def test_sigterm_runs_cleanup_and_exits_143(tmp_path):
    """A real SIGTERM to a real process: the finally clause runs."""
    marker = tmp_path / "cleaned"
    ready = tmp_path / "ready"
    script = textwrap.dedent(
        f"""
        import pathlib, time
        from rally_osic import cli
        def slow(args):
            try:
                pathlib.Path({str(ready)!r}).write_text("x")
                time.sleep(60)
            finally:
                pathlib.Path({str(marker)!r}).write_text("done")
        parser = cli.build_parser()
        cli.build_parser = lambda: parser
        sub = parser._subparsers._group_actions[0].choices["report"]
        sub.set_defaults(func=slow)
        raise SystemExit(cli.main(["report", "x.json", "-o", "o"]))
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    for _ in range(600):  # up to 60 s for the interpreter to start
        if ready.exists() or proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert marker.read_text() == "done"
    assert err == "rally-osic report: stopped by SIGTERM\n"
