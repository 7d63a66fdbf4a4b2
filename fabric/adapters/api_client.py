"""The HTTP client of `fabric api`: used by the CLI and the switch and firewall daemons.

TLS verifies the server (system CAs, or `ca` to pin one certificate authority); every request carries
the bearer token.  Errors come back as `ApiError` with the problem document's status, field and detail.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel

from fabric.errors import FabricError
from fabric.model import COLLECTIONS, DOCUMENTS, Document
from fabric.model.status import FirewallStatus, SwitchStatus

D = TypeVar("D", bound=Document)


class ApiError(FabricError):
    """A non-2xx answer: `status`, the problem's `field` and `detail`."""

    def __init__(
        self, status: int, detail: str, field: str = "", problem: dict[str, Any] | None = None
    ) -> None:
        self.status, self.detail, self.field = status, detail, field
        self.problem = problem or {}
        super().__init__(f"HTTP {status}: {field + ': ' if field else ''}{detail}")


@dataclass(frozen=True)
class Fetched:
    """A desired-state document and its ETag; `document` is None when unchanged (304)."""

    document: Document | None
    etag: str | None
    revision: int | None


class ApiClient:
    """`async with ApiClient(url, token, ca=...) as api:`; typed helpers for the daemons' calls."""

    def __init__(
        self, url: str, token: str | None = None, *, ca: str | None = None, timeout: float = 30.0
    ) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._ssl: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca) if ca else True
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        connector = aiohttp.TCPConnector(ssl=self._ssl, limit=0)
        self._session = aiohttp.ClientSession(headers=headers, connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use `async with ApiClient(...)`")
        return self._session

    async def request(
        self, method: str, path: str, body: BaseModel | dict[str, Any] | None = None, **params: Any
    ) -> Any:
        """JSON in, JSON out; `ApiError` for a problem answer."""
        query = {k: str(v) for k, v in params.items() if v is not None}
        payload, _etag = await self._send(method, path, body, params=query)
        return payload

    async def versioned(
        self,
        method: str,
        path: str,
        body: BaseModel | dict[str, Any] | None = None,
        *,
        if_match: str | None = None,
    ) -> tuple[Any, str | None]:
        """Like `request`, sending `If-Match` when given; returns (payload, the answer's ETag).

        A write whose `if_match` is stale fails with `ApiError` 412 (field `If-Match`, `problem["etag"]`
        the current version)."""
        return await self._send(method, path, body, headers={"If-Match": if_match} if if_match else {})

    async def _send(
        self,
        method: str,
        path: str,
        body: BaseModel | dict[str, Any] | None,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, str | None]:
        """One JSON request: (payload, the answer's ETag); `ApiError` for a problem answer."""
        data = body.model_dump(mode="json", by_alias=True) if isinstance(body, BaseModel) else body
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with self.session.request(
            method, self.url + path, json=data, params=params, headers=headers, timeout=timeout
        ) as r:
            payload = await r.json(content_type=None) if r.content_length != 0 else None
            if r.status >= 400:
                raise _error(r.status, payload)
            return payload, r.headers.get("ETag")

    async def get_state(self, kind: str, name: str, etag: str | None = None) -> Fetched:
        """The desired document of `kind`/`name`; `Fetched(document=None)` when `etag` still matches."""
        return await self._state(kind, name, {}, etag, self.timeout)

    async def watch_state(
        self, kind: str, name: str, since: int, wait: float, etag: str | None = None
    ) -> Fetched:
        """Long-poll: returns as soon as the revision passes `since`, or `document=None` after `wait`."""
        return await self._state(kind, name, {"since": since, "wait": wait}, etag, wait + self.timeout)

    async def _state(
        self, kind: str, name: str, params: dict[str, Any], etag: str | None, total: float
    ) -> Fetched:
        plural, model = COLLECTIONS[kind], DOCUMENTS[kind]
        headers = {"If-None-Match": etag} if etag else {}
        query = {k: str(v) for k, v in params.items()}
        async with self.session.get(
            f"{self.url}/v1/{plural}/{name}/state",
            params=query,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=total),
        ) as r:
            tag, rev = r.headers.get("ETag"), r.headers.get("X-Revision")
            revision = int(rev) if rev else None
            if r.status == 304:
                return Fetched(None, tag, revision)
            payload = await r.json(content_type=None)
            if r.status >= 400:
                raise _error(r.status, payload)
            return Fetched(model.model_validate(payload), tag, revision)

    async def post_status(self, kind: str, name: str, status: SwitchStatus | FirewallStatus) -> None:
        """Report a daemon's status (applied revision, errors, ports, LLDP, BGP)."""
        await self.request("POST", f"/v1/{COLLECTIONS[kind]}/{name}/status", status)

    async def get_status(self, kind: str, name: str) -> SwitchStatus | FirewallStatus:
        """The last status `kind` (switch or firewall) `name` reported, whole."""
        model: type[SwitchStatus | FirewallStatus] = SwitchStatus if kind == "switch" else FirewallStatus
        return model.model_validate(await self.request("GET", f"/v1/{COLLECTIONS[kind]}/{name}/status"))

    async def set_port_admin(self, switch: str, port: str, admin_status: str) -> dict[str, Any]:
        """Set a switch port administratively `down`, or back `up`."""
        body = {"admin_status": admin_status}
        return dict(await self.request("PATCH", f"/v1/switches/{switch}/ports/{port}", body))


def _error(status: int, payload: Any) -> ApiError:
    if isinstance(payload, dict):
        return ApiError(status, str(payload.get("detail", "")), str(payload.get("field", "")), payload)
    return ApiError(status, str(payload))
