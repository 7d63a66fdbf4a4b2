"""Real TCP and UDP endpoints for the packet tests (run inside a namespace with `python netprobe.py`).

`serve PORT...`: accept TCP connections and echo UDP datagrams on every PORT, on all addresses of both
families; prints `ready` once every socket is bound.  `probe` (flows as JSON on stdin:
[[src, dst, port, "TCP"|"UDP"], ...]): tries every flow at once, bound to its source address, and
prints a JSON list of booleans (connected / answered within the timeout).
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
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


def _echo(sock: socket.socket) -> None:
    data, ancillary, _, peer = sock.recvmsg(2048, 256)
    reply = []
    for level, kind, info in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            reply.append((level, IP_PKTINFO, bytes(4) + info[8:12] + bytes(4)))  # spec_dst = asked address
        elif level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
            reply.append((level, IPV6_PKTINFO, info[:16] + bytes(4)))
    sock.sendmsg([data], reply, 0, peer)


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
            if sock.type == socket.SOCK_STREAM:
                conn, _ = sock.accept()
                conn.sendall(b"hello\n")
                conn.close()
            else:
                _echo(sock)


def _one(flow: list) -> bool:
    src, dst, port, proto = flow
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((src, 0))
        try:
            if kind == socket.SOCK_STREAM:
                sock.connect((dst, port))
                return sock.recv(16).startswith(b"hello")
            sock.sendto(b"ping", (dst, port))
            return sock.recvfrom(16)[0] == b"ping"
        except OSError:
            return False


def probe() -> None:
    flows = json.load(sys.stdin)
    with ThreadPoolExecutor(max_workers=max(1, len(flows))) as pool:
        print(json.dumps(list(pool.map(_one, flows))))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve([int(p) for p in sys.argv[2:]])
    else:
        probe()
