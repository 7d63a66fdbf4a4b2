"""New-connection latency helpers for `bench firewall` part 3: the client and server scripts, and the
statistics (not a benchmark of its own: the leading underscore keeps `python -m bench` from running it).

The client is ONE process (per epoch) that times every variant: it enters each variant's client namespace with
setns(2) only to create that round's sockets (a socket stays in the namespace it was created in), so
all variants share the same interpreter, CPU and code path, and the timed span is `connect()` alone
(SYN out through the firewall, SYN-ACK back) measured with `perf_counter_ns`, garbage collection off.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence

CLIENT = r"""
import ctypes, gc, json, os, socket, struct, sys, time
cfg = json.loads(sys.stdin.read())
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000

def enter(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns")

home = os.open("/proc/self/ns/net", os.O_RDONLY)
spaces = {v: os.open(p, os.O_RDONLY) for v, p in cfg["netns"].items()}
linger = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT piling up, the same for every variant
dst = (cfg["dst"], cfg["port"])
variants = list(cfg["netns"])
out = {v: [] for v in variants}
gc.disable()
for r in range(cfg["rounds"]):
    order = variants[r % len(variants):] + variants[:r % len(variants)]  # so no variant always goes first
    for v in order:
        enter(spaces[v])
        socks = []
        for _ in range(cfg["warmup"] + cfg["per_round"]):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.bind((cfg["src"], 0))
            socks.append(s)
        enter(home)
        times = []
        clock = time.perf_counter_ns
        for s in socks:
            t = clock(); s.connect(dst); t = clock() - t
            times.append(t)
            s.close()
        out[v].append(times[cfg["warmup"]:])
print(json.dumps(out))
"""

SERVER = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 443))
s.listen(4096)
print("ready", flush=True)
while True:
    try:
        c, _ = s.accept()
        c.close()
    except OSError:
        pass
"""


def ratios(num: Sequence[Sequence[int]], den: Sequence[Sequence[int]]) -> list[float]:
    """Per-round ratio of medians: round r of `num` against round r of `den` (run back to back)."""
    return [statistics.median(a) / statistics.median(b) for a, b in zip(num, den, strict=True)]


def bootstrap(values: Sequence[float], reps: int = 5000, seed: int = 7) -> tuple[float, float]:
    """95 % bootstrap interval of the median of `values` (resampled with replacement)."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(reps))
    return meds[int(reps * 0.025)], meds[int(reps * 0.975) - 1]


def _pct(values: Sequence[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def describe(
    rounds: dict[str, list[list[int]]], labels: dict[str, str], baselines: Sequence[str], epoch: int
) -> list[str]:
    """Report lines: per-variant pooled median/p90, then each `baselines` ratio (first variant over it)
    per epoch (`epoch` rounds: one assignment of variants to paths, one client process) the median of
    per-round ratios; the epoch is the unit of the bootstrap, since rounds of one epoch are not
    independent (on this VM whole epochs shift together: 0.7 in one, 1.5 in the next)."""
    lines = []
    for v, label in labels.items():
        pooled = [t / 1000 for r in rounds[v] for t in r]
        lines.append(
            f"  {label}: {len(pooled)} connections, median {statistics.median(pooled):.0f} us, "
            f"p90 {_pct(pooled, 90):.0f} us"
        )
    first = next(iter(labels))
    for baseline in baselines:
        per_round = ratios(rounds[first], rounds[baseline])
        epochs = [statistics.median(per_round[i : i + epoch]) for i in range(0, len(per_round), epoch)]
        low, high = bootstrap(epochs)
        lines.append(
            f"  ratio {labels[first]} / {labels[baseline]}: {statistics.median(epochs):.3f} "
            f"(median of {len(epochs)} epochs' median per-round ratio), 95 % CI {low:.3f}..{high:.3f} "
            f"(bootstrap over epochs); epochs {min(epochs):.2f}..{max(epochs):.2f}, "
            f"{sum(0.9 <= e <= 1.1 for e in epochs)} of {len(epochs)} within 10 %; "
            f"all {len(per_round)} rounds: median {statistics.median(per_round):.3f}, "
            f"p10-p90 {_pct(per_round, 10):.2f}..{_pct(per_round, 90):.2f}"
        )
    return lines
