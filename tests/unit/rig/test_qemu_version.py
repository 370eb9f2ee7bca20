"""The QEMU version guard: pure parsing and the one-line refusal."""

from __future__ import annotations

from rally_osic.rig import qemu_version as qv

DEBIAN_12 = (
    "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
    "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers"
)
BACKPORTS = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2~bpo12+1)\n"


def test_versions_are_read_from_the_banner():
    assert qv.parse_version(DEBIAN_12) == (7, 2)
    assert qv.parse_version(BACKPORTS) == (10, 0)
    assert qv.parse_version("qemu-kvm 1.0") is None


def test_only_versions_before_the_fix_are_refused():
    message = qv.defect((7, 2))
    assert message.startswith("QEMU 7.2 loses guest memory")
    assert "\n" not in message
    assert qv.defect((8, 2)) is not None
    assert qv.defect((9, 0)) is None
    assert qv.defect((10, 0)) is None
    assert "version" in qv.defect(None)


def test_a_missing_binary_is_one_line(tmp_path):
    message = qv.tcg_migration_defect(str(tmp_path / "no-qemu"))
    assert message.startswith(str(tmp_path / "no-qemu"))
    assert "\n" not in message
