"""A daemon's desired state from `fabric api` and its status back: the loop's `Source` and `Sink`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from fabric.runtime.config import ApiSettings

if TYPE_CHECKING:
    from fabric.adapters.api_client import ApiClient

D = TypeVar("D")


def api_client(settings: ApiSettings, timeout: float = 30.0) -> ApiClient:
    """The `fabric api` client of a daemon's `api` settings (its token read from `token_file`);
    `timeout` bounds each call other than the long-poll."""
    from fabric.adapters.api_client import ApiClient

    ca = str(settings.ca) if settings.ca else None
    return ApiClient(settings.url, settings.token(), ca=ca, timeout=timeout)


class StateClient(Protocol):
    """What a daemon needs of `fabric.adapters.api_client.ApiClient`."""

    async def get_state(self, kind: str, name: str, etag: str | None = None) -> Any: ...
    async def watch_state(
        self, kind: str, name: str, since: int, wait: float, etag: str | None = None
    ) -> Any: ...
    async def post_status(self, kind: str, name: str, status: Any) -> None: ...


class ApiSource(Generic[D]):
    """The `kind` document named `name` (``GET``, or the long-poll watch), as `convert` makes it."""

    def __init__(self, client: StateClient, kind: str, name: str, convert: Callable[[Any], D]) -> None:
        self.client, self.kind, self.name, self.convert = client, kind, name, convert

    async def get(self) -> D:
        """The current document (a plain GET of its state)."""
        return self.convert((await self.client.get_state(self.kind, self.name)).document)

    async def watch(self, since: int, wait: float) -> D | None:
        """A document newer than revision `since`, or None on 304 after `wait` seconds."""
        fetched = await self.client.watch_state(self.kind, self.name, since, wait)
        return None if fetched.document is None else self.convert(fetched.document)


class ApiSink:
    """Posts status to `fabric api`, for the `kind` object named as the status says."""

    def __init__(self, client: StateClient, kind: str) -> None:
        self.client, self.kind = client, kind

    async def report(self, status: Any) -> None:
        """Send `status`."""
        await self.client.post_status(self.kind, status.name, status)
