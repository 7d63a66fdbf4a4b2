"""FRR version-dependent facts, in one table keyed by FRR version (docs/concepts.md#sonic).

SONiC releases ship FRR 8.5 (202305-202405) up to 10.x (202411 onwards); Debian 12 (the lab) has 8.4.
The rendered configuration only uses commands that exist with the same syntax in all of them (no
`frr version` line either: frr-reload never diffs it).  A line that differs between releases gets a
field here, with what it is and why.  Only 8.4 runs here; each field's lines are proven in that FRR
with the module SONiC loads (see tests/integration/render).
"""

from __future__ import annotations

from dataclasses import dataclass

from fabric.errors import ValidationError


@dataclass(frozen=True)
class Capabilities:
    """What one FRR release prints and accepts where releases differ."""

    version: str
    """The release family, e.g. "8.4"."""

    fpm_address: str | None = None
    """Where zebra sends routes for the ASIC, or None where zebra has no FPM connection to configure.

    From FRR 8.5 on, SONiC starts zebra with `-M dplane_fpm_nl` and fpmsyncd listens on 127.0.0.1; zebra's
    config must then say `fpm address 127.0.0.1` and `no fpm use-next-hop-groups` (SONiC's FPM design).
    In split mode our frr.conf *is* zebra's config: without these lines frr-reload would delete them and
    routes would stop reaching the ASIC.  Debian's 8.4 in the lab runs zebra without that module.
    """


SONIC_FPM = "127.0.0.1"

CAPABILITIES: dict[str, Capabilities] = {
    "8.4": Capabilities("8.4"),  # Debian 12 and the lab
    "8.5": Capabilities("8.5", fpm_address=SONIC_FPM),  # SONiC 202305 .. 202405
    "10.0": Capabilities("10.0", fpm_address=SONIC_FPM),  # SONiC 202411
    "10.3": Capabilities("10.3", fpm_address=SONIC_FPM),  # SONiC 202505 .. 202511
}

SONIC_FRR = {"202305": "8.5", "202311": "8.5", "202405": "8.5", "202411": "10.0", "202505": "10.3"}
"""FRR release family shipped by each SONiC release (later releases: the newest row)."""

DEFAULT = "8.4"


def capabilities(version: str | None = None) -> Capabilities:
    """The row for an FRR version such as "8.5.4" or "10.0"; the lab's 8.4 when None."""
    if not version:
        return CAPABILITIES[DEFAULT]
    parts = version.split(".")
    for key in (".".join(parts[:2]), parts[0] + ".0"):
        if key in CAPABILITIES:
            return CAPABILITIES[key]
    known = ", ".join(CAPABILITIES)
    raise ValidationError(f"FRR version {version} is not in the capability table ({known})", "frr_version")


def for_sonic(sonic_version: str) -> Capabilities:
    """The row for the FRR a SONiC release ships (e.g. "202405"); releases after the table: newest."""
    if not sonic_version:
        return CAPABILITIES[DEFAULT]
    release = sonic_version[:6]
    if release in SONIC_FRR:
        return CAPABILITIES[SONIC_FRR[release]]
    if release.isdigit() and release > max(SONIC_FRR):
        return CAPABILITIES[SONIC_FRR[max(SONIC_FRR)]]
    return CAPABILITIES["8.5"]
