"""``python -m lab.vm.relay NETNS ADDRESS PORT TARGET``: a TCP relay across network namespaces (lab only).

The listening socket is made inside namespace NETNS (on ADDRESS:PORT, e.g. a VM's management link);
every connection it accepts is relayed to 127.0.0.1:TARGET in the namespace the relay was started in
(the host's, where `fabric api` and the cluster's API listen).  A socket keeps the namespace it was
made in, so one process serves both sides: no per-connection helper, long watches and many concurrent
connections alike.
"""

from __future__ import annotations

import asyncio
import socket
import sys

from pyroute2 import netns


def listen_in(namespace: str, address: str, port: int) -> socket.socket:
    """A listening TCP socket on `address`:`port` inside `namespace`."""
    netns.pushns(namespace)
    try:
        return socket.create_server((address, port), reuse_port=False)
    finally:
        netns.popns()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def relay(sock: socket.socket, target: int) -> None:
    """Serve `sock` forever: each connection piped both ways to 127.0.0.1:`target`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        for w in (writer, up_writer):
            w.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> None:
    namespace, address, port, target = argv
    sock = listen_in(namespace, address, int(port))
    print(f"relay {namespace} {address}:{port} -> 127.0.0.1:{target}", flush=True)
    asyncio.run(relay(sock, int(target)))


if __name__ == "__main__":
    main(sys.argv[1:])
