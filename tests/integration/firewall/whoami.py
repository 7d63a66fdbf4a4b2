"""Who does the server see?  (run inside a namespace with `python whoami.py`)

`serve PORT ADDRESS...`: on each ADDRESS, answer each TCP connection and each UDP datagram with the
peer's address as the server sees it; prints `ready` once bound.  (Bound to the asked address, a UDP
answer leaves from it, so conntrack on the way back sees the reply of the same flow.)
`ask SRC DST PORT TCP|UDP`: bound to SRC, ask DST and print the answer (nothing, exit 1, when none
came within the timeout).
"""

from __future__ import annotations

import selectors
import socket
import sys

TIMEOUT = 3.0


def _bound(address: str, kind: int, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(64)
    return sock


def serve(port: int, addresses: list[str]) -> None:
    sel = selectors.DefaultSelector()
    for address in addresses:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            sel.register(_bound(address, kind, port), selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock.type == socket.SOCK_STREAM:
                conn, peer = sock.accept()
                conn.sendall(peer[0].encode())
                conn.close()
            else:
                _, peer = sock.recvfrom(64)
                sock.sendto(peer[0].encode(), peer)


def ask(src: str, dst: str, port: int, proto: str) -> str:
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "TCP" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as sock:
        sock.settimeout(TIMEOUT)
        sock.bind((src, 0))
        if kind == socket.SOCK_STREAM:
            sock.connect((dst, port))
            return sock.recv(64).decode()
        sock.sendto(b"who", (dst, port))
        return sock.recvfrom(64)[0].decode()


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3:])
    else:
        try:
            print(ask(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]))
        except OSError as exc:
            print(exc, file=sys.stderr)
            sys.exit(1)
