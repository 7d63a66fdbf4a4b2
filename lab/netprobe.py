"""Real TCP and UDP endpoints for the lab and the packet tests (run in a namespace: `python netprobe.py`).

`serve PORT...`: on every PORT, on all addresses of both families, answer each TCP connection and each
UDP datagram with the peer's address as the server sees it (what SNAT made of the source); prints
`ready` once every socket is bound.  `probe` (flows as JSON on stdin: [[src, dst, port, "TCP"|"UDP"],
...]): tries every flow at once, bound to its source address, and prints a JSON list of booleans
(answered within the timeout).  `ask SRC DST PORT TCP|UDP [TIMEOUT]`: one flow; prints the address the
server saw (nothing, exit 1, when no answer came within TIMEOUT seconds, default 1.5).  `stream SRC DST
PORT RATE SECONDS`: a continuous UDP stream to a `serve`r; prints JSON with the datagrams sent, those
answered and the longest time without an answer (what a failure cost).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import selectors
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor

TIMEOUT = 1.5


IP_PKTINFO, IPV6_RECVPKTINFO, IPV6_PKTINFO = 8, 49, 50


def _bound(family: int, kind: int, port: int) -> socket.socket:
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    if kind == socket.SOCK_DGRAM:
        # Answer from the address that was asked, or conntrack would see a new flow coming back.
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", port))
    if kind == socket.SOCK_STREAM:
        sock.listen(128)
    return sock


def _answer(sock: socket.socket) -> None:
    _, ancillary, _, peer = sock.recvmsg(2048, 256)
    reply = []
    for level, kind, info in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            reply.append((level, IP_PKTINFO, bytes(4) + info[8:12] + bytes(4)))  # spec_dst = asked address
        elif level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
            reply.append((level, IPV6_PKTINFO, info[:16] + bytes(4)))
    sock.sendmsg([peer[0].encode()], reply, 0, peer)


def serve(ports: list[int]) -> None:
    sel = selectors.DefaultSelector()
    for port in ports:
        for family in (socket.AF_INET, socket.AF_INET6):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                sel.register(_bound(family, kind, port), selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            # An answer that cannot go out (no route back for a moment while a failure is routed
            # around, a peer gone) is that one answer lost: the server goes on.
            with contextlib.suppress(OSError):
                if sock.type == socket.SOCK_STREAM:
                    conn, peer = sock.accept()
                    with conn:
                        conn.sendall(peer[0].encode())
                else:
                    _answer(sock)


def ask(src: str, dst: str, port: int, proto: str, timeout: float = TIMEOUT) -> str:
    """The source address the server at `dst` saw for a flow from `src` (OSError when none came)."""
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as sock:
        sock.settimeout(timeout)
        sock.bind((src, 0))
        if kind == socket.SOCK_STREAM:
            sock.connect((dst, port))
            seen = sock.recv(64).decode()
        else:
            sock.sendto(b"who", (dst, port))
            seen = sock.recvfrom(64)[0].decode()
    if not seen:
        raise OSError(f"{dst} {port}/{proto} closed without an answer")
    return seen


def stream(src: str, dst: str, port: int, rate: float, seconds: float, *, flows: int = 8) -> dict[str, float]:
    """Send `rate` UDP datagrams a second from `src` to the server at `dst` for `seconds`, spread round
    robin over `flows` source ports (ECMP hashes each flow its own way, so some take any failed path),
    and count the answers: a datagram lost on either way is a missing answer.  The longest gap is the
    longest time one flow went without an answer while it was sending."""
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    socks = [socket.socket(family, socket.SOCK_DGRAM) for _ in range(flows)]
    sel = selectors.DefaultSelector()
    for index, sock in enumerate(socks):
        sock.bind((src, 0))
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ, index)
    start = time.monotonic()
    end, sent = start + seconds, 0
    answers: list[list[float]] = [[start] for _ in socks]
    while (now := time.monotonic()) < end + TIMEOUT:
        if now < end and now >= start + sent / rate:
            with contextlib.suppress(OSError):  # no route for a moment (a failure routed around): lost
                socks[sent % flows].sendto(sent.to_bytes(8, "big"), (dst, port))
            sent += 1
        wake = start + sent / rate if now < end else end + TIMEOUT
        for key, _ in sel.select(max(0.0, wake - time.monotonic())):
            while True:
                try:
                    socks[key.data].recvfrom(64)
                except BlockingIOError:
                    break
                answers[key.data].append(time.monotonic())
    for sock in socks:
        sock.close()
    last_send = start + (sent - 1) / rate
    gap = max(max(b - a for a, b in itertools.pairwise(sorted([*marks, last_send]))) for marks in answers)
    return {"sent": sent, "answered": sum(len(m) - 1 for m in answers), "longest_gap": round(gap, 4)}


def _one(flow: tuple[str, str, int, str]) -> bool:
    try:
        return bool(ask(*flow))
    except OSError:
        return False


def probe() -> None:
    flows = json.load(sys.stdin)
    with ThreadPoolExecutor(max_workers=max(1, len(flows))) as pool:
        print(json.dumps(list(pool.map(_one, flows))))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve([int(p) for p in sys.argv[2:]])
    elif sys.argv[1] == "ask":
        try:
            wait = float(sys.argv[6]) if len(sys.argv) > 6 else TIMEOUT
            print(ask(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], wait))
        except OSError as exc:
            print(exc, file=sys.stderr)
            sys.exit(1)
    elif sys.argv[1] == "stream":
        src, dst, port, rate, seconds = sys.argv[2:7]
        print(json.dumps(stream(src, dst, int(port), float(rate), float(seconds))), flush=True)
    else:
        probe()
