"""The pure parts of the probes, the rig's image builder, the nova.conf
editor and the evacuation's decisions."""

import gzip
import shlex
import subprocess

import pytest

from rally_osic.faults import novaconf, reconfigure
from rally_osic.probes import agent, evacuate, hypervisor, records, workload
from rally_osic.rig import guest


# ------------------------------------------------------------ TCP tally
def test_stream_tally_counts_duplicates_reorders_and_losses():
    tally = agent.StreamTally(10)
    for seq, t in [(0, 0.0), (1, 0.01), (3, 0.02), (2, 0.5), (3, 0.51)]:
        tally.feed(seq, t)
    assert tally.received == 4
    assert tally.duplicated == 1
    assert tally.reordered == 1
    assert tally.lost(6) == 2  # 4 and 5 never came back
    assert tally.max_stall == pytest.approx(0.48)
    assert tally.stall_start == pytest.approx(0.02)


def test_agent_runs_of():
    assert agent.runs_of(bytearray([0, 1, 1, 0, 1]), 5) == [[1, 2], [4, 4]]
    assert agent.runs_of(bytearray([1, 1]), 2) == [[0, 1]]


# ------------------------------------------------------------ records
def test_row_says_na_for_probes_that_did_not_run():
    row = records.migration_row(
        vm="vm-1",
        direction="a -> b",
        source="a",
        target="b",
        success=True,
        error=None,
        duration=1.25,
        transport=None,
        block_migration="auto",
    )
    assert list(row) == list(records.COLUMNS)
    for column in (
        "probe_downtime",
        "tcp_bytes_lost",
        "libvirt_downtime",
        "transport",
    ):
        assert row[column] == records.NA
    assert row["duration"] == 1.25


def test_row_from_all_three_probes():
    row = records.migration_row(
        vm="vm-1",
        direction="a -> b",
        source="a",
        target="b",
        success=True,
        error=None,
        duration=3.0,
        transport="tunnelled",
        block_migration=False,
        libvirt=hypervisor.job_record(
            {
                "time_elapsed": 1500,
                "downtime": 64,
                "downtime_net": 59,
                "data_processed": 10 << 20,
                "memory_iteration": 3,
                "memory_dirty_rate": 100,
                "memory_page_size": 4096,
            }
        ),
        udp={
            "interval": 0.001,
            "t0": 0.0,
            "last_slot": 999,
            "sent": 999,
            "answered": 935,
            "lost": [[500, 563]],
            "skipped": [[10, 10]],
        },
        tcp={
            "lost_bytes": 0,
            "reordered_bytes": 0,
            "duplicated_bytes": 0,
            "max_stall": 0.2,
            "reconnects": 0,
            "received": 90,
        },
    )
    assert row["libvirt_downtime"] == 0.064
    assert row["libvirt_time_elapsed"] == 1.5
    assert row["dirty_rate"] == 409600
    assert row["probe_downtime"] == pytest.approx(0.064)
    assert row["probe_outages"] == 1
    assert row["tcp_bytes_lost"] == 0
    assert records.success_rate([row, {**row, "success": False}]) == (1, 2)


def test_table_is_the_reporters_contract():
    from rally_osic.report import livemigration

    assert records.TABLE_TITLE.lower() == livemigration.TABLE_TITLE
    assert set(livemigration.COLUMNS) <= set(records.COLUMNS)


def test_sample_of_domain_stats():
    sample = hypervisor.sample_of(
        5.0,
        "h",
        {
            "cpu.time": 2_500_000_000,
            "net.count": 2,
            "net.0.rx.bytes": 10,
            "net.1.rx.bytes": 5,
            "net.0.tx.bytes": 1,
            "net.1.tx.bytes": 1,
            "balloon.rss": 1024,
        },
    )
    assert sample.cpu_time == 2.5
    assert (sample.net_rx, sample.net_tx) == (15, 2)
    assert sample.block_rd is None


def test_unknown_migration_flag():
    assert hypervisor.flags_of(["live", "peer2peer", "tunnelled"]) == 7
    with pytest.raises(hypervisor.HypervisorError, match="unknown"):
        hypervisor.flags_of(["teleport"])


# ------------------------------------------------------------ nova.conf
CONF = """[DEFAULT]
host = c1

[libvirt]
# live_migration_tunnelled = false
virt_type = qemu
live_migration_downtime = 200
live_migration_downtime = 300

[vnc]
enabled = false
"""


def test_apply_sets_only_what_it_sets():
    values = novaconf.settings("tunnelled", {"downtime": 500})
    text = novaconf.apply(CONF, values)
    assert "# live_migration_tunnelled = false" in text
    assert "virt_type = qemu" in text
    assert text.count("live_migration_downtime") == 1
    assert novaconf.read(text) == values
    assert novaconf.transport_of(novaconf.read(text)) == "tunnelled"
    assert text.endswith("[vnc]\nenabled = false\n")
    # Applying twice changes nothing more; the original is untouched.
    assert novaconf.apply(text, values) == text


def test_apply_adds_a_libvirt_section():
    text = novaconf.apply("[DEFAULT]\nhost = c1", {"a": "1"})
    assert text == "[DEFAULT]\nhost = c1\n\n[libvirt]\na = 1\n"


@pytest.mark.parametrize(
    ("transport", "options", "message"),
    [
        ("teleport", {}, "transport 'teleport'"),
        ("native", {"downtime": 50}, "minimum is 100"),
        ("native", {"downtime_steps": 2}, "minimum is 3"),
        ("native", {"timeout_action": "retry"}, "abort, force_complete"),
        ("native", {"permit_post_copy": "yes"}, "true or false"),
        ("native", {"warp": 1}, "unknown live-migration option"),
        ("tunnelled", {"permit_post_copy": True}, "post-copy"),
    ],
)
def test_values_nova_would_reject(transport, options, message):
    with pytest.raises(novaconf.NovaConfError, match=message):
        novaconf.settings(transport, options)


def test_native_tls_is_one_choice():
    values = novaconf.settings("native_tls")
    assert values == {
        "live_migration_tunnelled": "false",
        "live_migration_with_native_tls": "true",
    }


def test_computes_from_osic_mapping_and_node_list():
    config = {
        "node_discover": {
            "driver": "node_list",
            "args": [{"ip": "10.0.0.5", "fqdn": "compute2.example"}],
        },
        "osic": {
            "nova_computes": {
                "c1": {"node": "127.0.0.1", "config_file": "/x/c1.conf"}
            }
        },
    }
    c1, c2 = reconfigure.computes(config, ["c1", "compute2"])
    assert (c1.node, c1.config_file, c1.service) == (
        "127.0.0.1",
        "/x/c1.conf",
        "nova-compute",
    )
    assert (c2.node, c2.config_file) == ("10.0.0.5", "/etc/nova/nova.conf")
    with pytest.raises(reconfigure.ReconfigureError, match="not a node"):
        reconfigure.computes(config, ["c3"])


def test_write_command_replaces_atomically_and_keeps_mode(tmp_path):
    path = tmp_path / "nova.conf"
    path.write_text("old\n")
    path.chmod(0o640)
    command = reconfigure.write_command(str(path))
    subprocess.run(
        ["/bin/sh", "-c", command], input="new\n", text=True, check=True
    )
    assert path.read_text() == "new\n"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["nova.conf"]
    failed = subprocess.run(
        ["/bin/sh", "-c", reconfigure.write_command(str(tmp_path / "no/x"))],
        input="x",
        text=True,
    )
    assert failed.returncode != 0


# ------------------------------------------------------------ evacuation
def poll(status="ACTIVE", task=None, host="b", migration=None, fault=None):
    return evacuate.Poll(status, task, host, migration, fault)


@pytest.mark.parametrize(
    ("state", "outcome", "reason"),
    [
        (poll(), "success", ""),
        (poll(task="migrating"), "running", ""),
        (poll(status="MIGRATING", host="a"), "running", ""),
        (
            poll(status="ERROR", fault="boom"),
            "failure",
            "server in ERROR: boom",
        ),
        (
            poll(host="a", migration="error"),
            "failure",
            "host unchanged (migration error)",
        ),
        (poll(host="c"), "failure", "host is c, not b"),
        (
            poll(migration="failed"),
            "failure",
            "on b, but the migration is failed",
        ),
    ],
)
def test_classify(state, outcome, reason):
    assert evacuate.classify(state, "a", "b") == (outcome, reason)


def test_choose_hosts():
    servers = [{"host": "a"}, {"host": "a"}, {"host": "b"}]
    assert evacuate.choose_hosts(servers, ["c", "a", "b"], None, None) == (
        "a",
        "b",
    )
    assert evacuate.choose_hosts(servers, ["a"], "b", "a") == ("b", "a")
    with pytest.raises(ValueError, match="no other"):
        evacuate.choose_hosts(servers, ["a"], None, None)


# ------------------------------------------------------------ user data
def test_user_data_is_valid_sh_with_the_responder():
    text = workload.user_data(workload.Workload(dirty_mib=8, udp_port=9))
    subprocess.run(["sh", "-n"], input=text, text=True, check=True)
    assert "UDP_PORT=9" in text
    assert workload.responder_source() in text
    with pytest.raises(ValueError):
        workload.Workload(disk_fill=1.0)


def test_user_data_fills_the_disk_in_a_sandbox(tmp_path):
    # The fill step alone, against a directory of this machine: it must
    # stop at the share it was given (here 0: nothing written).
    text = workload.user_data(
        workload.Workload(disk_fill=0.0, fill_path=str(tmp_path / "f"))
    )
    fill = text[text.index("fill_disk() {") : text.index("\n}\n") + 3]
    subprocess.run(
        [
            "sh",
            "-c",
            f"FILL_PERCENT=0; FILL_PATH={shlex.quote(str(tmp_path / 'f'))}; "
            f"say() {{ :; }}; {fill} fill_disk",
        ],
        check=True,
    )
    assert not (tmp_path / "f").exists()


# ------------------------------------------------------------ guest image
def test_module_depends_and_load_order():
    ko = b"\0license=GPL\0depends=virtio_ring,virtio\0vermagic=6.1\0"
    assert guest.module_depends(ko) == ["virtio_ring", "virtio"]
    assert guest.module_depends(b"\0depends=\0") == []
    deps = {
        "virtio_net": ["virtio_ring", "virtio", "net_failover"],
        "net_failover": ["failover"],
        "virtio": ["virtio_ring"],
        "virtio_ring": [],
        "failover": [],
    }
    order = guest.load_order(["virtio_net"], deps.__getitem__)
    assert order.index("virtio_ring") < order.index("virtio")
    assert order.index("failover") < order.index("net_failover")
    assert order[-1] == "virtio_net"
    with pytest.raises(guest.GuestBuildError, match="cycle"):
        guest.load_order(["a"], {"a": ["b"], "b": ["a"]}.__getitem__)


def test_cpio_newc_is_readable_by_busybox(tmp_path):
    archive = guest.cpio_newc(
        [("etc", 0o040755, b""), ("etc/hello", 0o100644, b"hi\n")]
    )
    (tmp_path / "a.cpio.gz").write_bytes(gzip.compress(archive))
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(
        f"gunzip -c {tmp_path / 'a.cpio.gz'} | busybox cpio -id",
        shell=True,
        cwd=out,
        check=True,
        capture_output=True,
    )
    assert (out / "etc" / "hello").read_text() == "hi\n"


def test_cpu_lines_from_domain_samples():
    samples = [
        ["vm-1", 10.0, "a", 1.0, 0, 0, 0, 0, 0],
        ["vm-1", 11.0, "a", 1.5, 0, 0, 0, 0, 0],
        ["vm-1", 12.0, "b", 0.1, 0, 0, 0, 0, 0],  # new host: new counter
        ["vm-1", 13.0, "b", 0.4, 0, 0, 0, 0, 0],
    ]
    assert evacuate.cpu_lines(samples) == [
        ("vm-1 CPU %", [[1.0, 50.0], [3.0, 30.0]])
    ]
