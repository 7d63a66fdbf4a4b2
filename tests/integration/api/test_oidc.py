"""Sign-in with OIDC against a real provider started by the test (`oidc-provider-mock` from PyPI, its
own process, a new RSA key each start), on SQLite and on PostgreSQL: users' ID tokens are accepted for
the audience and issuer given to `fabric api serve`, mapped to roles by their groups, and refused with
the reason otherwise; fabric's own tokens keep working beside them."""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import scenario
from conftest import FABRIC, Server, send, start_server, stop_server
from cryptography.hazmat.primitives.asymmetric import rsa

from fabric.adapters.process import run, spawn
from lab.rig.ports import free_port
from lab.rig.wait import wait_until

AUDIENCE = "fabric-cli"
TOKEN_AGE = 4  # seconds a token lives: the expiry case waits it out (the server's leeway is 0)
REFETCH_AFTER = 10.0  # fabric.api.oidc.REFETCH_AFTER: a rotated key is looked up at most this often

pytestmark = [pytest.mark.slow]


@dataclass
class Provider:
    """A running oidc-provider-mock; `issuer` is what its tokens carry as `iss`."""

    port: int
    pid: int = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = tempfile.mkstemp(prefix="oidc-provider-", suffix=".log")[1]
        argv = [sys.executable, "-m", "oidc_provider_mock", "--port", str(self.port)]
        proc = spawn([*argv, "--token-max-age", str(TOKEN_AGE)], stdout_path=log)
        self.pid = proc.pid
        discovery = f"{self.issuer}/.well-known/openid-configuration"
        wait_until(
            lambda: urllib.request.urlopen(discovery, timeout=1).status == 200,
            timeout=30,
            interval=0.1,
            what="the OIDC provider",
            retry_on=(OSError,),
        )

    def stop(self) -> None:
        stop_server(self.pid)

    def token(self, sub: str, groups: list[str], audience: str = AUDIENCE) -> str:
        """An ID token for `sub` in `groups`, through the authorization code flow as a client does it."""
        claims = {"groups": groups, "preferred_username": sub}
        _call("PUT", f"{self.issuer}/users/{sub}", json.dumps(claims).encode(), "application/json")
        redirect = "http://127.0.0.1/callback"
        query = urllib.parse.urlencode(
            {
                "client_id": audience,
                "redirect_uri": redirect,
                "response_type": "code",
                "scope": "openid",
                "state": "s",
            }
        )
        location = _call(
            "POST",
            f"{self.issuer}/oauth2/authorize?{query}",
            urllib.parse.urlencode({"sub": sub}).encode(),
            "application/x-www-form-urlencoded",
            redirect=True,
        )
        code = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "client_id": audience,
            "client_secret": "secret",
        }
        answer = _call(
            "POST",
            f"{self.issuer}/oauth2/token",
            urllib.parse.urlencode(form).encode(),
            "application/x-www-form-urlencoded",
        )
        return str(json.loads(answer)["id_token"])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _call(method: str, url: str, body: bytes, media: str, redirect: bool = False) -> str:
    asked = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": media})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(asked, timeout=10) as answer:
            return str(answer.read().decode())
    except urllib.error.HTTPError as exc:
        if redirect and exc.code in (302, 303):
            return str(exc.headers["Location"])
        raise


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    found = Provider(free_port())
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, provider: Provider) -> Iterator[Server]:
    if request.param == "sqlite":
        db = f"sqlite:///{tempfile.mkdtemp(prefix='fabric-oidc-')}/fabric.db"
    else:
        db = request.getfixturevalue("postgres").createdb(f"t_{secrets.token_hex(4)}")
    oidc = ["--oidc-issuer", provider.issuer, "--oidc-audience", AUDIENCE, "--oidc-leeway", "0"]
    server = start_server(db, request.param, extra=oidc)
    _ask(server, "POST", "/v1/partitions", server.admin, scenario.PARTITION)
    for project in ("alpha", "beta"):
        _ask(server, "POST", "/v1/projects", server.admin, {"name": project})
    beta = {**scenario.NETWORKS[-1], "name": "beta-net", "project": "beta", "extra_prefixes": []}
    for network in (*scenario.NETWORKS, beta):
        status, _, answer = _ask(server, "POST", "/v1/networks", server.admin, network)
        assert status == 201, answer
    try:
        yield server
    finally:
        stop_server(server.pid)


def _ask(
    server: Server, method: str, path: str, token: str, body: dict | None = None
) -> tuple[int, dict, dict]:
    return send(server, method, path, json.dumps(body).encode() if body is not None else None, token)


def _refused(server: Server, token: str, reason: str) -> None:
    status, headers, problem = _ask(server, "GET", "/v1/projects", token)
    assert status == 401, problem
    assert reason in problem["detail"], problem
    assert 'error="invalid_token"' in headers["WWW-Authenticate"], headers


def _forged(issuer: str, kid: str | None, **claims: object) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    body = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": "mallory",
        "exp": now + 60,
        "iat": now,
        "groups": ["fabric-admins"],
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid} if kid else None)


def test_an_admin_signs_in_and_the_audit_names_them(api: Server, provider: Provider) -> None:
    token = provider.token("alice@example.com", ["staff", "fabric-admins"])
    status, _, answer = _ask(api, "POST", "/v1/projects", token, {"name": f"p{secrets.token_hex(3)}"})
    assert status == 201, answer
    _, _, audit = _ask(api, "GET", f"/v1/audit?target={answer['name']}", api.admin)
    assert [e["who"] for e in audit] == ["admin:alice@example.com"]


def test_a_project_member_reads_their_project_and_not_another(api: Server, provider: Provider) -> None:
    token = provider.token("bob", ["fabric-project-alpha"])
    status, _, answer = _ask(api, "GET", "/v1/networks", token)
    assert status == 200 and [n["name"] for n in answer] == ["alpha-net"], answer
    status, _, answer = _ask(api, "GET", "/v1/networks/alpha-net", token)
    assert status == 200, answer
    status, _, problem = _ask(api, "GET", "/v1/networks/beta-net", token)
    assert status == 403, problem
    status, _, problem = _ask(api, "POST", "/v1/projects", token, {"name": "gamma"})
    assert status == 403, problem


def test_a_user_in_no_fabric_group_is_refused_saying_so(api: Server, provider: Provider) -> None:
    _refused(api, provider.token("carol", ["staff"]), "carol is in no fabric group")
    _refused(api, provider.token("dave", ["fabric-project-alpha", "fabric-project-beta"]), "several projects")


def test_a_token_for_another_audience_is_refused(api: Server, provider: Provider) -> None:
    _refused(api, provider.token("erin", ["fabric-admins"], audience="grafana"), "not for this API")


def test_a_token_of_another_issuer_is_refused(api: Server) -> None:
    other = Provider(free_port())
    other.start()
    try:
        _refused(api, other.token("frank", ["fabric-admins"]), "was not issued by")
    finally:
        other.stop()


def test_a_forged_token_is_refused(api: Server, provider: Provider) -> None:
    _refused(api, _forged(provider.issuer, "not-a-key-of-the-provider"), "unknown key id")
    _refused(api, _forged(provider.issuer, kid=None), "does not verify with the provider's keys")
    unsigned = jwt.encode(
        {"iss": provider.issuer, "aud": AUDIENCE, "sub": "m", "exp": time.time() + 60},
        key=None,
        algorithm="none",
    )
    _refused(api, unsigned, "algorithm 'none' is not accepted")
    hmac = jwt.encode({"iss": provider.issuer, "aud": AUDIENCE, "sub": "m"}, "s" * 32, algorithm="HS256")
    _refused(api, hmac, "algorithm 'HS256' is not accepted")


def test_an_expired_token_is_refused(api: Server, provider: Provider) -> None:
    token = provider.token("grace", ["fabric-admins"])
    status, _, answer = _ask(api, "GET", "/v1/projects", token)
    assert status == 200, answer
    # Accepted until its exp (the server allows no clock skew here), then refused as expired.
    wait_until(lambda: _ask(api, "GET", "/v1/projects", token)[0] == 401, timeout=TOKEN_AGE + 5,
               interval=0.2, what="the token expired")  # fmt: skip
    _refused(api, token, "expired")


def test_fabric_tokens_keep_working_beside_oidc(api: Server) -> None:
    status, _, answer = _ask(api, "GET", "/v1/projects", api.admin)
    assert status == 200 and {p["name"] for p in answer} >= {"alpha", "beta"}, answer
    _refused(api, "fab_" + "x" * 43, "unknown, expired or revoked")


def test_the_cli_takes_a_token_from_a_command(api: Server, provider: Provider, tmp_path: Path) -> None:
    token = provider.token("heidi", ["fabric-project-alpha"])
    helper = tmp_path / "get-token"
    exec_credential = {"kind": "ExecCredential", "status": {"token": token}}  # what kubelogin prints
    helper.write_text(f"#!/bin/sh\necho '{json.dumps(exec_credential)}'\n")
    helper.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("FABRIC_TOKEN",)}
    result = run(
        [
            FABRIC,
            "api",
            "show",
            "network",
            "alpha-net",
            "--url",
            api.url,
            "--token-command",
            str(helper),
            "-o",
            "json",
        ],
        env=env,
    )
    assert result.ok, result.describe()
    assert json.loads(result.stdout)["name"] == "alpha-net"
    assert token not in result.stdout + result.stderr


def test_rotated_keys_are_followed(api: Server, provider: Provider) -> None:
    old = provider.token("ivan", ["fabric-admins"])
    assert _ask(api, "GET", "/v1/projects", old)[0] == 200
    provider.stop()
    provider.start()  # a new process: a new signing key, the same issuer
    # A new token is accepted once the server reads the keys again (at most every REFETCH_AFTER
    # seconds); each try takes a fresh one (they live TOKEN_AGE seconds).
    wait_until(lambda: _ask(api, "GET", "/v1/projects", provider.token("ivan", ["fabric-admins"]))[0] == 200,
               timeout=REFETCH_AFTER + 5, interval=0.5, what="the new key followed")  # fmt: skip
    _refused(api, old, "does not verify with the provider's keys")  # its key is gone


def test_the_provider_issues_jwts_with_the_claims_mapped(provider: Provider) -> None:
    # The provider's tokens are JWTs with the claims the mapping reads (a guard on the stand-in-free
    # setup above: if the provider changed its format, every case here would fail for that reason).
    token = provider.token("judy", ["fabric-project-alpha"])
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert AUDIENCE in payload["aud"] and payload["groups"] == ["fabric-project-alpha"]
