"""The OpenAPI document tells the truth: every route of the app is in it with its responses, errors and
If-Match, and live answers of every read route validate against the response models it names."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from conftest import Server
from scenario import cable, declare

from fabric.adapters.api_client import ApiClient
from fabric.adapters.store.engine import Database
from fabric.api.app import PUBLIC, ROUTES, build_app
from fabric.model.status import FirewallStatus, SyncResult


def openapi(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.url}/v1/openapi.json") as r:
        return dict(json.load(r))


def test_every_route_of_the_app_is_documented_with_its_responses(server: Server, tmp_path: Path) -> None:
    spec = openapi(server)
    app = build_app(Database(f"sqlite:///{tmp_path}/unused.db"))  # the route table only; never served
    served = {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.method != "HEAD" and r.resource is not None
    }
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert served == documented, served ^ documented
    schemas = spec["components"]["schemas"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            ok = op["responses"].get("200") or op["responses"]["2XX"]
            schema = next(iter(ok["content"].values()))["schema"]
            ref = schema.get("$ref") or schema.get("items", {}).get("$ref")
            if path not in ("/metrics", "/v1/openapi.json", "/docs", "/docs/{asset}"):
                assert ref, f"{where}: untyped answer"
                assert ref.rsplit("/", 1)[1] in schemas, where
            if op.get("security") != []:
                assert {"401", "403"} <= set(op["responses"]), where
            for status, response in op["responses"].items():
                if status[0] in "45":
                    assert response["content"]["application/problem+json"]["schema"]["$ref"].endswith(
                        "/Problem"
                    ), where
            if "requestBody" in op:
                assert "422" in op["responses"], where
            headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
            if method in ("put", "delete") and path != "/v1/tokens/{id}":
                assert "If-Match" in headers and "412" in op["responses"], where
            for name in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"]), where


async def test_live_answers_match_the_documented_models(server: Server) -> None:
    async with ApiClient(server.url, server.admin) as api:
        await declare(api)
        await cable(api)
        await api.request("POST", "/v1/machines/m1/allocate", {"project": "alpha", "networks": ["alpha-net"]})
        await api.request("POST", "/v1/ips", {"network": "internet", "project": "alpha"})
        await api.post_status(
            "firewall", "fw1", FirewallStatus(name="fw1", sync=SyncResult(applied_revision=0))
        )
        examples = {
            "name": {
                "partitions": "fra",
                "projects": "alpha",
                "networks": "alpha-net",
                "switches": "leaf01",
                "firewalls": "fw1",
            },
            "address": {"ips": (await api.request("GET", "/v1/ips"))[0]["address"]},
        }
        checked = 0
        for route in [*ROUTES, *PUBLIC]:
            if route.method != "GET" or route.response is None or route.path.endswith(("/state", "/diff")):
                continue
            path = route.path
            for param in re.findall(r"{(\w+)}", path):
                resource = path.split("/")[2]
                value = examples[param].get(resource) or ("m1" if resource == "machines" else "")
                path = path.replace("{" + param + "}", value)
            answer = await api.request("GET", path)
            items = answer if route.many else [answer]
            assert not route.many or items, f"{path}: nothing to validate"
            for item in items:
                route.response.model_validate(item)
            checked += 1
        assert checked == 18  # 7 lists, 6 shows, 2 reported statuses, fleet, audit, healthz


def test_the_interactive_reference_is_served_without_a_cdn(server: Server) -> None:
    with urllib.request.urlopen(f"{server.url}/docs") as r:
        page = r.read().decode()
    assert r.headers["Content-Type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/docs/") for s in sources), sources  # nothing from elsewhere
    for source in sources:
        with urllib.request.urlopen(f"{server.url}{source}") as r:
            assert r.status == 200 and r.read(), source
    with urllib.request.urlopen(f"{server.url}/docs/start.js") as r:
        assert "/v1/openapi.json" in r.read().decode()
    for missing in ("index.html", "..%2F..%2Fswagger_ui%2F__init__.py", "LICENSE"):
        try:
            urllib.request.urlopen(f"{server.url}/docs/{missing}")
        except urllib.error.HTTPError as exc:
            assert exc.code == 404, missing
        else:
            raise AssertionError(f"/docs/{missing} served")
