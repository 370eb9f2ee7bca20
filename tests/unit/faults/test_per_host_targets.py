"""One service, a different process on every node: ``per_host`` args and
a port that listens on one address (several "nodes" on one machine)."""

import pytest

from rally_osic.faults import probe
from rally_osic.faults import targets as tg

ARGS = {
    "cmdline": "mariadbd --defaults-file=/etc/my.cnf",
    "port": 3306,
    "start_cmd": "start-db",
    "per_host": {
        "127.0.1.2": {
            "cmdline": "mariadbd --defaults-file=/lab/node-2/my.cnf",
            "address": "127.0.1.2",
            "start_cmd": "start-db 2",
        },
        "db3.example": {"pid_file": "/run/db3.pid", "address": "127.0.1.3"},
    },
}


def test_each_node_has_its_own_args_over_the_service_s():
    target = tg.ServiceTarget.from_args("mysql", ARGS)
    two = target.on("127.0.1.2", "db2.example")
    assert two.cmdline == ("mariadbd", "--defaults-file=/lab/node-2/my.cnf")
    assert two.start_cmd == "start-db 2"
    assert two.spec() == {
        "cmdline": ["mariadbd", "--defaults-file=/lab/node-2/my.cnf"],
        "port": 3306,
        "address": "127.0.1.2",
    }
    # By fqdn too; what the node does not override is the service's.
    three = target.on("127.0.1.3", "db3.example")
    assert three.pid_file == "/run/db3.pid"
    assert three.cmdline == ("mariadbd", "--defaults-file=/etc/my.cnf")
    assert three.start_cmd == "start-db"
    # A node without overrides gets the service's args.
    one = target.on("127.0.1.1", None)
    assert one.spec() == {
        "cmdline": ["mariadbd", "--defaults-file=/etc/my.cnf"],
        "port": 3306,
    }


@pytest.mark.parametrize(
    "per_host, message",
    [
        ({"n1": {"grep": "x"}}, "Additional properties"),
        ({"n1": {"port": 0}}, "per_host/n1/port"),
        ({"n1": "mariadbd"}, "per_host/n1"),
        ({"n1": {"containers": {}}}, "Additional properties"),
    ],
)
def test_bad_per_host_args_are_one_clear_line(per_host, message):
    with pytest.raises(tg.TargetError, match=message) as caught:
        tg.ServiceTarget.from_args(
            "mysql", {"pid_file": "/x", "per_host": per_host}
        )
    assert "\n" not in str(caught.value)


def _proc_net(tmp_path, rows):
    """/proc/net/tcp with LISTEN (0A) sockets at "hexaddr:hexport"."""
    net = tmp_path / "net"
    net.mkdir(exist_ok=True)
    head = "  sl  local_address rem_address   st\n"
    lines = [
        f"   {i}: {local} 00000000:0000 0A 0:0 00:0 0 0 0 {i} 1\n"
        for i, local in enumerate(rows)
    ]
    (net / "tcp").write_text(head + "".join(lines))
    (net / "tcp6").write_text(head)
    return str(tmp_path)


def test_a_port_listens_on_one_node_s_address_only(tmp_path):
    # 127.0.1.1:3306 and 127.0.1.3:3306 (0x0CEA), as the kernel writes
    # them on a little-endian machine; 127.0.1.2's node is down.
    proc = _proc_net(tmp_path, ["0101007F:0CEA", "0301007F:0CEA"])
    assert probe.listening(3306, proc=proc)
    assert probe.listening(3306, proc=proc, address="127.0.1.1")
    assert not probe.listening(3306, proc=proc, address="127.0.1.2")
    assert not probe.listening(3307, proc=proc, address="127.0.1.1")


def test_a_socket_on_every_address_counts_for_each(tmp_path):
    proc = _proc_net(tmp_path, ["00000000:0CEA"])
    assert probe.listening(3306, proc=proc, address="127.0.1.2")
