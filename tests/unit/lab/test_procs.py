"""Pidfiles and command-line checks with real, harmless processes."""

import os
import subprocess
import sys
import time

import pytest

from rally_osic.lab import lab, procs
from rally_osic.lab.services import Service


def _sleeper(tmp_path, name, marker):
    return Service(
        name=name,
        argv=(sys.executable, "-c", "import time; time.sleep(60)", marker),
        match=f"time.sleep(60) {marker}",
        log_file=tmp_path / f"{name}.log",
        pidfile=tmp_path / f"{name}.pid",
    )


def test_start_records_the_pid_and_stop_stops_only_it(tmp_path):
    service = _sleeper(tmp_path, "one", str(tmp_path / "one"))
    decoy = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "decoy"]
    )
    try:
        pid = procs.start(service)
        assert procs.read_pidfile(service.pidfile) == pid
        # Until the child has exec'd, /proc shows the parent's command line.
        deadline = time.monotonic() + 5
        while procs.running_pid(service) != pid:
            assert time.monotonic() < deadline, "service never matched"
            time.sleep(0.01)
        assert procs.stop(service, timeout=5)
        assert procs.running_pid(service) is None
        assert not service.pidfile.exists()
        assert decoy.poll() is None
    finally:
        decoy.kill()
        decoy.wait()


def test_a_reused_pid_is_not_the_service(tmp_path):
    service = _sleeper(tmp_path, "two", str(tmp_path / "two"))
    # The pidfile names a live process that is not the service (ourselves).
    procs.write_pidfile(service.pidfile, os.getpid())
    assert procs.running_pid(service) is None
    assert procs.stop(service) is False
    assert not service.pidfile.exists()


def test_stale_and_garbage_pidfiles(tmp_path):
    service = _sleeper(tmp_path, "three", "x")
    assert procs.running_pid(service) is None
    service.pidfile.write_text("not a pid\n")
    assert procs.read_pidfile(service.pidfile) is None
    procs.write_pidfile(service.pidfile, 2**22 + 1)
    assert procs.running_pid(service) is None


def test_cmdline_matching():
    assert procs.cmdline_matches("a b --config-file /x/nova.conf", "b --c")
    assert not procs.cmdline_matches("", "x")
    assert not procs.cmdline_matches(None, "x")
    mine = procs.read_cmdline(os.getpid())
    assert mine and sys.executable.split("/")[-1] in mine


def test_a_service_that_dies_gives_a_one_line_error(tmp_path):
    service = Service(
        name="broken",
        argv=(sys.executable, "-c", "import sys; sys.exit('no config')"),
        match="sys.exit('no config')",
        log_file=tmp_path / "log" / "broken.log",
        pidfile=tmp_path / "run" / "broken.pid",
        health="tcp://127.0.0.1:9",
        start_timeout=10,
    )
    started = time.monotonic()
    with pytest.raises(lab.LabError) as error:
        lab._start_and_wait(service)
    message = str(error.value)
    assert "\n" not in message
    assert "broken failed to start" in message
    assert str(service.log_file) in message
    assert time.monotonic() - started < 10
    assert "no config" in service.log_file.read_text()


def test_health_checks():
    assert procs.check_health("") == (True, "process")
    healthy, detail = procs.check_health("tcp://127.0.0.1:9", timeout=1)
    assert not healthy and detail.startswith("tcp")
    healthy, _ = procs.check_health("http://127.0.0.1:9/", timeout=1)
    assert not healthy


def test_unix_socket_health(tmp_path):
    import socket

    path = tmp_path / "daemon.sock"
    assert procs.check_health(f"unix://{path}") == (
        False,
        "unix socket: No such file or directory",
    )
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        # Bound but not listening: what a daemon that is still starting
        # (or one that died and left its socket) looks like.
        healthy, detail = procs.check_health(f"unix://{path}")
        assert not healthy and detail.startswith("unix socket"), detail
        server.listen(1)
        assert procs.check_health(f"unix://{path}") == (True, "unix socket ok")


def test_services_do_not_inherit_openstack_variables(monkeypatch):
    monkeypatch.setenv("OS_DATABASE__CONNECTION", "sqlite:////tmp/rally.db")
    monkeypatch.setenv("OS_AUTH_URL", "http://elsewhere")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = procs.clean_environment({"OSIC_LAB_ETC": "/x"})
    assert not [key for key in env if key.startswith("OS_")]
    assert env["LANG"] == "C.UTF-8"
    assert env["OSIC_LAB_ETC"] == "/x"


def test_without_root_the_exact_apt_command_is_printed(monkeypatch, tmp_path):
    from rally_osic.lab import config as lab_config
    from rally_osic.lab import steps

    config = lab_config.load(tmp_path / "lab", create=True)
    monkeypatch.setattr(steps.shutil, "which", lambda name: "/usr/bin/x")
    monkeypatch.setattr(
        steps, "missing_debian_packages", lambda packages: ["memcached"]
    )
    monkeypatch.setattr(steps.os, "geteuid", lambda: 1000)
    with pytest.raises(steps.SetupError) as error:
        steps.ensure_debian_packages(config, ("memcached",))
    assert str(error.value) == (
        "missing Debian packages; as root run: apt-get -o "
        "DPkg::Lock::Timeout=600 install -y --no-install-recommends "
        "memcached"
    )


def test_find_by_environ_needs_every_wanted_variable(tmp_path):
    marker = str(tmp_path)
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "OSIC_TEST_MARK": marker},
    )
    try:
        program = os.path.basename(sys.executable)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            found = procs.find_by_environ(program, {"OSIC_TEST_MARK": marker})
            if found:
                break
            time.sleep(0.05)
        assert found == [child.pid]
        assert not procs.find_by_environ(
            program, {"OSIC_TEST_MARK": marker, "OTHER": "1"}
        )
        assert not procs.find_by_environ("epmd", {"OSIC_TEST_MARK": marker})
    finally:
        child.kill()
        child.wait()


def _worker_pids(leader: int) -> list[int]:
    return [
        pid
        for pid in procs.find_by_cmdline("time.sleep(60)")
        if pid != leader and os.getsid(pid) == leader
    ]


def test_stop_finds_workers_orphaned_by_a_kill_of_their_master(tmp_path):
    # The master forks a worker, like gunicorn or nova-conductor; a fault
    # kills the master -9, a restore starts a new session; lab down must
    # stop the orphan too, and nothing else that mentions the service.
    marker = str(tmp_path / "forking")
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.execv(__import__('sys').executable, [__import__('sys')"
        ".executable, '-c', 'import time; time.sleep(60)', 'worker', "
        f"{marker!r}])\n"
        "time.sleep(60)\n"
    )
    service = Service(
        name="forking",
        argv=(sys.executable, "-c", code, marker),
        match=marker,
        log_file=tmp_path / "forking.log",
        pidfile=tmp_path / "forking.pid",
    )
    decoy = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", marker]
    )
    try:
        first = procs.start(service)
        deadline = time.monotonic() + 5
        while not _worker_pids(first):
            assert time.monotonic() < deadline, "no worker forked"
            time.sleep(0.02)
        [orphan] = _worker_pids(first)
        os.kill(first, 9)  # the fault
        second = procs.start(service)  # the restore
        assert second != first
        # Until it has exec'd and forked, the restore is not yet the service.
        while procs.running_pid(service) != second or not _worker_pids(second):
            assert time.monotonic() < deadline + 5, "restore never ran"
            time.sleep(0.02)
        [second_worker] = _worker_pids(second)
        assert procs.stop(service, timeout=5)
        for pid in (first, orphan, second, second_worker):
            assert not procs._alive(pid), pid
        assert decoy.poll() is None, "a process outside the lab was stopped"
        assert not (tmp_path / "forking.sessions").exists()
    finally:
        decoy.kill()
        decoy.wait()


def test_lab_ports_are_reserved_from_the_ephemeral_range(tmp_path):
    from rally_osic.lab import lab

    reserved = tmp_path / "ip_local_reserved_ports"
    reserved.write_text("8000-8002,9000\n")
    lab.reserve_ports({8001, 35672, 35673}, reserved)
    assert reserved.read_text() == "8000-8002,9000,35672,35673\n"
    lab.reserve_ports({35672}, reserved)  # already there: unchanged
    assert reserved.read_text() == "8000-8002,9000,35672,35673\n"
    lab.reserve_ports({1}, tmp_path / "missing")  # not writable: no error
