"""What an image is made of, as data: Debian packages, our files, units to enable (pure).

`firewall_spec()` is the firewall machine image.  The builder (`fabric.image.build`) turns a spec into
a root filesystem; the spec's `base_key` and `key` are the cache keys of its two stages.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from fabric.image.seed import SeedFile

# Raised whenever the builder's steps change in a way the spec does not show.
BUILDER_VERSION = 1
ROOT_LABEL = "fabric-root"
VENV = "/opt/fabric"

FIREWALL_PACKAGES = (
    # boot and the system: Debian's kernel (its stock initrd serves real hardware), systemd with udev
    # (device units such as the serial console's need udev) and networkd, D-Bus for systemctl/networkctl
    "linux-image-amd64",
    "systemd-sysv",
    "udev",
    "dbus",
    "kmod",
    "busybox-static",  # the lean initrd for direct kernel boot (see fabric.image.initrd)
    # the firewall itself
    "frr",
    "frr-pythontools",
    "nftables",
    "netbase",  # /etc/protocols: nft resolves the protocol names of the ruleset (icmp, ipv6-icmp) there
    "iproute2",
    "lldpd",
    "python3",
    "python3-venv",
    # operating it
    "openssh-server",
    "chrony",
    "ca-certificates",
    "iputils-ping",
    "procps",
    "less",
)
# Nothing an operator reads on a firewall: documentation, man pages and translations (~60 MB).
PATH_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")
PATH_INCLUDES = ("/usr/share/doc/*/copyright",)


@dataclass(frozen=True)
class ImageSpec:
    """One image: a Debian suite and packages (the base stage), then our files and units."""

    name: str
    suite: str
    packages: tuple[str, ...]
    files: tuple[SeedFile, ...]
    enable: tuple[str, ...]
    mask: tuple[str, ...] = ()
    size_mib: int = 2048
    path_excludes: tuple[str, ...] = PATH_EXCLUDES
    path_includes: tuple[str, ...] = PATH_INCLUDES
    links: tuple[tuple[str, str], ...] = field(default=())  # (path, target) symlinks

    def base_key(self, sources: str) -> str:
        """Cache key of the base stage: suite, packages, path filters and the apt sources used."""
        base = [BUILDER_VERSION, self.suite, self.packages, self.path_excludes, self.path_includes, sources]
        return _digest(base)

    def key(self, sources: str, fabric_source: str) -> str:
        """Cache key of the whole image: the base, our files and units, and fabric's source digest."""
        whole = [self.base_key(sources), [asdict(f) for f in self.files], self.enable, self.mask]
        return _digest([*whole, self.size_mib, self.links, fabric_source])


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=list).encode()).hexdigest()[:16]


SYSCTLS = """\
# fabric firewall: a router between VRFs.
net.ipv4.ip_forward = 1
net.ipv6.conf.all.forwarding = 1
net.ipv6.conf.default.forwarding = 1
# Services bound in the default VRF answer on VRF ports too (FRR, sshd on a management VRF).
net.ipv4.tcp_l3mdev_accept = 1
net.ipv4.udp_l3mdev_accept = 1
# Traffic routed asymmetrically through VRFs must not be dropped by reverse-path filtering.
net.ipv4.conf.all.rp_filter = 0
net.ipv4.conf.default.rp_filter = 0
# Keep IPv6 addresses (link-local for BGP unnumbered) when a port flaps.
net.ipv6.conf.all.keep_addr_on_down = 1
net.ipv6.conf.default.keep_addr_on_down = 1
# Connection tracking for a firewall's load (default: 65536 on small machines).
net.netfilter.nf_conntrack_max = 1048576
"""

MODULES = "# fabric firewall: kernel VRFs and connection tracking\nvrf\nnf_conntrack\n"

TRACK_FROM_BOOT = """\
#!/usr/sbin/nft -f
# fabric firewall image: connection tracking from the first packet of the boot (nftables.service).
# The kernel tracks connections only once some rule asks for their state.  Without this table that
# happens when the daemon first loads `table inet fabric`, and every connection opened before (the
# daemon's own watches of fabric api and the cluster, an SSH session) is first seen mid-stream, as
# new, and dropped by the input chain.  The daemon never touches this table.
table inet track_from_boot
delete table inet track_from_boot
table inet track_from_boot {
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tct state new counter comment "fabric: makes the kernel track every connection from boot"
\t}
}
"""

FRR_DAEMONS = """\
# fabric firewall: zebra, bgpd and staticd; the fabric firewall daemon writes frr.conf.
bgpd=yes
ospfd=no
ospf6d=no
ripd=no
ripngd=no
isisd=no
pimd=no
ldpd=no
nhrpd=no
eigrpd=no
babeld=no
sharpd=no
pbrd=no
bfdd=no
fabricd=no
vrrpd=no
pathd=no
vtysh_enable=yes
zebra_options="  -A 127.0.0.1 -s 90000000"
bgpd_options="   -A 127.0.0.1"
staticd_options="-A 127.0.0.1"
"""

FRR_CONF = """\
! fabric firewall: replaced by the fabric firewall daemon on its first sync.
frr defaults datacenter
service integrated-vtysh-config
!
"""

CHRONY = """\
# fabric firewall: no built-in pool; the seed writes the servers (sources.d/fabric-seed.sources).
confdir /etc/chrony/conf.d
sourcedir /etc/chrony/sources.d
driftfile /var/lib/chrony/chrony.drift
makestep 1 3
rtcsync
leapsectz right/UTC
"""

SEED_SERVICE = """\
# fabric firewall image: applies the seed (a filesystem labelled fabric-seed holding seed.yaml) at
# every boot, before the network and the daemon.  A missing or invalid seed writes nothing and fails
# this unit, so fabric-firewall.service (which requires it) does not start.
[Unit]
Description=fabric firewall seed (identity, credentials and NICs from the fabric-seed disk)
DefaultDependencies=no
After=local-fs.target systemd-udev-trigger.service
Before=network-pre.target systemd-networkd.service chrony.service ssh.service fabric-firewall.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/bin/fabric image seed apply --wait 60
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
"""

FIREWALL_AFTER_SEED = """\
# fabric firewall image: the daemon runs only on a seeded firewall, after FRR.
[Unit]
Requires=fabric-seed.service
After=fabric-seed.service frr.service systemd-networkd.service
Wants=frr.service
"""

SSH_HOST_KEYS = """\
# fabric firewall image: host keys are made on the firewall at its first boot, never in the image
# (every firewall booting one image would share them otherwise).
# Debian's own check (sshd -t) needs the keys, so it runs again after them.
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
"""

SSHD = "# fabric firewall image: keys only.\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"

FSTAB = f"LABEL={ROOT_LABEL} / ext4 errors=remount-ro 0 1\n"

JOURNALD = (
    "# fabric firewall image: a bounded journal on disk.\n[Journal]\nStorage=persistent\nSystemMaxUse=256M\n"
)


def firewall_spec(firewall_unit: str, suite: str = "bookworm") -> ImageSpec:
    """The firewall machine image; `firewall_unit` is the shipped fabric-firewall.service."""
    files = (
        SeedFile("/etc/fstab", FSTAB),
        SeedFile("/etc/hostname", "fabric-firewall\n"),
        SeedFile("/etc/sysctl.d/90-fabric-firewall.conf", SYSCTLS),
        SeedFile("/etc/modules-load.d/fabric-firewall.conf", MODULES),
        SeedFile("/etc/nftables.conf", TRACK_FROM_BOOT),
        SeedFile("/etc/frr/daemons", FRR_DAEMONS),
        SeedFile("/etc/frr/frr.conf", FRR_CONF),
        SeedFile("/etc/chrony/chrony.conf", CHRONY),
        SeedFile("/etc/ssh/sshd_config.d/fabric.conf", SSHD),
        SeedFile("/etc/systemd/journald.conf.d/fabric.conf", JOURNALD),
        SeedFile("/etc/systemd/system/fabric-firewall.service", firewall_unit),
        SeedFile("/etc/systemd/system/fabric-firewall.service.d/image.conf", FIREWALL_AFTER_SEED),
        SeedFile("/etc/systemd/system/fabric-seed.service", SEED_SERVICE),
        SeedFile("/etc/systemd/system/ssh.service.d/host-keys.conf", SSH_HOST_KEYS),
    )
    return ImageSpec(
        name="firewall",
        suite=suite,
        packages=FIREWALL_PACKAGES,
        files=files,
        enable=(
            "nftables.service",
            "systemd-networkd.service",
            "fabric-seed.service",
            "fabric-firewall.service",
            "frr.service",
        ),
        # No network-online waits for the fabric ports (FRR brings them up), no apt timers.
        mask=("systemd-networkd-wait-online.service", "apt-daily.timer", "apt-daily-upgrade.timer"),
        links=(("/usr/local/bin/fabric", f"{VENV}/bin/fabric"),),
    )
