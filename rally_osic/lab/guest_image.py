"""The lab's guest image in Glance, for the libvirt hosts' real servers.

A Debian cloud kernel (``aki``), the busybox initramfs of
:mod:`rally_osic.rig.guest` built for Nova (``ari``: DHCP, and the user
data of the config drive), and a 1 MiB raw root disk (``ami``) that names
them. Nova boots the kernel and initramfs directly. Rebuilt and replaced
when what goes into the initramfs or the kernel command line changes
(the ``osic_build`` property).
"""

from __future__ import annotations

import hashlib

from rally_osic.lab.config import LabConfig

IMAGE = "lab-guest"
IMAGE_SERVICE = {"service_type": "image", "interface": "public"}
ROOT_DISK_BYTES = 1024 * 1024


def _images(sess, name: str) -> list[dict]:
    return sess.get(
        f"/v2/images?name={name}", endpoint_filter=IMAGE_SERVICE
    ).json()["images"]


def _upload(sess, name: str, kind: str, data: bytes, extra: dict) -> str:
    body = {
        "name": name,
        "disk_format": kind,
        "container_format": kind,
        "visibility": "public",
        **extra,
    }
    image = sess.post(
        "/v2/images", json=body, endpoint_filter=IMAGE_SERVICE
    ).json()
    sess.put(
        f"/v2/images/{image['id']}/file",
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        endpoint_filter=IMAGE_SERVICE,
    )
    return image["id"]


def ensure_image(config: LabConfig, sess) -> str:
    """The id of the current ``lab-guest`` image (built and uploaded
    when missing or stale)."""
    from rally_osic.rig import guest

    # Next to the venvs, which a test lab shares with the user's: the
    # kernel package is downloaded once per machine.
    built = guest.build(config.venvs / "guest-cache", cloud=True)
    kernel = built.kernel.read_bytes()
    initrd = built.initrd.read_bytes()
    build_id = hashlib.sha256(
        kernel + initrd + guest.KERNEL_ARGS.encode()
    ).hexdigest()[:16]
    current = [
        image
        for image in _images(sess, IMAGE)
        if image.get("osic_build") == build_id and image["status"] == "active"
    ]
    if current:
        return current[0]["id"]
    for stale in _images(sess, IMAGE):
        _delete_with_parts(sess, stale)
    tag = {"osic_build": build_id}
    kernel_id = _upload(sess, f"{IMAGE}-kernel", "aki", kernel, tag)
    ramdisk_id = _upload(sess, f"{IMAGE}-initrd", "ari", initrd, tag)
    return _upload(
        sess,
        IMAGE,
        "ami",
        bytes(ROOT_DISK_BYTES),
        {
            **tag,
            "kernel_id": kernel_id,
            "ramdisk_id": ramdisk_id,
            "os_command_line": guest.KERNEL_ARGS,
            "hw_cdrom_bus": "scsi",
            "hw_scsi_model": "virtio-scsi",
        },
    )


def _delete_with_parts(sess, image: dict) -> None:
    for part in (image.get("kernel_id"), image.get("ramdisk_id")):
        if part:
            sess.delete(
                f"/v2/images/{part}",
                endpoint_filter=IMAGE_SERVICE,
                raise_exc=False,
            )
    sess.delete(
        f"/v2/images/{image['id']}",
        endpoint_filter=IMAGE_SERVICE,
        raise_exc=False,
    )
