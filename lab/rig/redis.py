"""A private Redis server on a unix socket (the lab's CONFIG_DB / STATE_DB / APPL_DB of one switch).

``redis-server --port 0 --unixsocket DIR/redis.sock --save '' --appendonly no`` is ready in ~10 ms
(docs/concepts.md#lab): no TCP port (so no collisions between runs), no persistence, everything in DIR.
"""

from __future__ import annotations

from pathlib import Path

import redis
import redis.asyncio

from fabric.errors import ApplyError
from lab.rig.daemon import Daemon, start_daemon
from lab.rig.netns import Netns
from lab.rig.run import Ledger
from lab.rig.wait import wait_until

REDIS_SERVER = "redis-server"
SONIC_DATABASES = 16  # SONiC numbers its databases up to 15 (CONFIG_DB is 4, STATE_DB 6)


class RedisInstance:
    """One redis-server; build through `Rig.redis()`.

    `notify_keyspace_events` is Redis's flag string (e.g. ``"KA"``; empty = off, the default);
    `ns` runs the server inside a namespace (a unix socket works from anywhere, so rarely needed).
    """

    def __init__(
        self,
        ledger: Ledger,
        name: str = "redis",
        *,
        ns: Netns | None = None,
        databases: int = SONIC_DATABASES,
        notify_keyspace_events: str = "",
    ) -> None:
        if databases < SONIC_DATABASES:
            raise ValueError(f"databases={databases}: SONiC needs at least {SONIC_DATABASES}")
        self.ledger = ledger
        self.name = name
        self.ns = ns
        self.databases = databases
        self.notify_keyspace_events = notify_keyspace_events
        self.dir = ledger.tempdir(name)
        self.daemon: Daemon | None = None
        self._clients: list[redis.Redis] = []

    def __repr__(self) -> str:
        return f"RedisInstance({self.name!r}, {self.socket_path})"

    @property
    def socket_path(self) -> Path:
        """The server's unix socket, DIR/redis.sock."""
        return self.dir / "redis.sock"

    def start(self, *, timeout: float = 10.0) -> RedisInstance:
        """Start the server and wait until it answers PING; raises `ApplyError` with its log otherwise."""
        argv = [
            REDIS_SERVER,
            *("--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "770"),
            *("--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", str(self.dir)),
            *("--databases", str(self.databases), "--logfile", ""),
            *("--notify-keyspace-events", self.notify_keyspace_events),
        ]
        what = f"{self.name}@{self.ledger.prefix}"
        log_path = self.dir / "redis.log"
        if self.ns is not None:
            self.daemon = self.ns.start(argv, what=what, log_path=log_path)
        else:
            self.daemon = start_daemon(self.ledger, argv, what=what, log_path=log_path)
        probe = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1.0)
        try:
            wait_until(
                probe.ping,
                timeout=timeout,
                interval=0.01,
                what=f"{self} to answer PING",
                retry_on=(redis.ConnectionError, redis.TimeoutError),
            )
        except AssertionError as exc:
            raise ApplyError(f"{exc}\n{self.daemon.log_tail()}", retryable=False, phase="rig:redis") from exc
        finally:
            probe.close()
        return self

    def client(self, db: int = 0, *, decode_responses: bool = True) -> redis.Redis:
        """A synchronous client of database `db` (strings decoded by default); closed by `stop()`."""
        client = redis.Redis(unix_socket_path=str(self.socket_path), db=db, decode_responses=decode_responses)
        self._clients.append(client)
        return client

    def async_client(self, db: int = 0, *, decode_responses: bool = True) -> redis.asyncio.Redis:
        """An asyncio client of database `db`; the caller closes it (`await client.aclose()`)."""
        return redis.asyncio.Redis(
            unix_socket_path=str(self.socket_path), db=db, decode_responses=decode_responses
        )

    def running(self) -> bool:
        """True while the server process is alive."""
        return self.daemon is not None and self.daemon.alive()

    def stop(self) -> None:
        """Close the clients handed out, then SIGTERM the server (it removes its socket); idempotent."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None
