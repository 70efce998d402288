"""What goes into the rescue live system: Debian packages, modules pruned, files dropped.

Pure data. Its content hash keys the cached bootstrap stage (`rescue.cache`): change a line and the
next build bootstraps afresh; leave it and a rebuild reuses the stage in seconds.
"""

from __future__ import annotations

SUITE = "bookworm"

# The live system: kernel + live-boot's initramfs, systemd, the agent's interpreter, and the tools the
# rescue actions drive. Recommends are off, so every package here is wanted by name.
PACKAGES: tuple[str, ...] = (
    "linux-image-amd64",
    "live-boot",
    "live-boot-initramfs-tools",
    "initramfs-tools",
    "zstd",
    "systemd-sysv",
    "udev",
    "kmod",
    "util-linux",
    "procps",
    "iproute2",
    "isc-dhcp-client",
    "ppp",
    "pppoe",
    "e2fsprogs",
    "ntfs-3g",
    "dosfstools",
    "smartmontools",
    "fdisk",
    "fonts-wqy-microhei",
    "fbterm",
    "kbd",
    "python3",
    "ca-certificates",
)

# Kernel module folders a rescue PC does not need (sound, video capture, GPUs beyond the framebuffer,
# InfiniBand, ISDN …): about half the modules' size, and the ISO stays under 250 MB.
PRUNED_MODULES: tuple[str, ...] = (
    "kernel/sound",
    "kernel/drivers/media",
    "kernel/drivers/gpu/drm/amd",
    "kernel/drivers/gpu/drm/nouveau",
    "kernel/drivers/gpu/drm/radeon",
    "kernel/drivers/gpu/drm/i915",
    "kernel/drivers/gpu/drm/xe",
    "kernel/drivers/infiniband",
    "kernel/drivers/isdn",
    "kernel/drivers/staging",
    "kernel/drivers/net/wireless",
    "kernel/drivers/bluetooth",
    "kernel/net/bluetooth",
    "kernel/drivers/iio",
    "kernel/drivers/comedi",
    "kernel/drivers/net/ethernet/mellanox",
    "kernel/drivers/scsi/qla2xxx",
    "kernel/drivers/scsi/lpfc",
    "kernel/fs/ocfs2",
    "kernel/fs/gfs2",
    "kernel/fs/ceph",
)

# Paths dpkg never unpacks (documentation, manuals, translations other than zh_CN).
DPKG_EXCLUDES: tuple[str, ...] = (
    "/usr/share/doc/*",
    "/usr/share/man/*",
    "/usr/share/info/*",
    "/usr/share/lintian/*",
    "/usr/share/locale/*",
)
DPKG_INCLUDES: tuple[str, ...] = ("/usr/share/locale/zh_CN/*", "/usr/share/doc/*/copyright")

# The agent's third-party Python distributions (their own requirements follow automatically).
AGENT_DISTRIBUTIONS: tuple[str, ...] = (
    "websockets",
    "cryptography",
    "psutil",
    "dnspython",
    "pydantic",
    "starlette",
    "uvicorn",
    "httpx",
)
# The project's packages the rescue agent runs from.
AGENT_PACKAGES: tuple[str, ...] = ("agent", "protocol", "cli", "rescue")
