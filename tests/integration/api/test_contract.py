"""Malformed requests get a 4xx problem document naming what is wrong, never a 500: a body that is not
UTF-8, a method the path does not have (405 with `Allow`), query values outside their type, bounds or
pattern; what the OpenAPI document allows is accepted (integral numbers in strict reports)."""

from __future__ import annotations

import json

import pytest
from conftest import Server, send


def _send(server: Server, method: str, path: str, body: bytes | None = None) -> tuple[int, dict, dict]:
    return send(server, method, path, body)


@pytest.mark.parametrize("path", ["/v1/projects", "/v1/ips", "/v1/apply"])
def test_a_body_that_is_not_utf8_is_a_400_naming_the_body(server: Server, path: str) -> None:
    status, headers, problem = _send(server, "POST", path, b'{"name": "caf\\xe9"}'.replace(b"\\xe9", b"\xe9"))
    assert status == 400, problem
    assert headers["Content-Type"].startswith("application/problem+json")
    assert "not UTF-8" in problem["detail"]
    assert {"field": "body", "reason": "not UTF-8"} in [
        {"field": e.get("field"), "reason": e.get("reason")} for e in problem.get("errors", [])
    ]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/healthz", {"GET"}),
        ("PATCH", "/v1/projects", {"GET", "POST"}),
        ("POST", "/v1/openapi.json", {"GET"}),
        ("DELETE", "/v1/status", {"GET"}),
    ],
)
def test_a_method_the_path_does_not_have_is_a_405_with_allow(
    server: Server, method: str, path: str, allowed: set[str]
) -> None:
    status, headers, problem = _send(server, method, path, b"{}" if method != "TRACE" else None)
    assert status == 405, problem
    assert {m.strip() for m in headers["Allow"].split(",")} >= allowed
    assert problem["status"] == 405


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/audit?limit=0", "limit"),
        ("/v1/audit?limit=1001", "limit"),
        ("/v1/audit?limit=ten", "limit"),
        ("/v1/switches/leaf01/state?wait=-1", "wait"),
        ("/v1/switches/leaf01/state?wait=nan", "wait"),
        ("/v1/switches/leaf01/state?since=x", "since"),
        ("/v1/switches/leaf01/diff?from=1", "to"),
        ("/v1/switches/leaf01/diff?from=1&to=99999999999999999999", "to"),  # past BIGINT: was a 500
        ("/v1/switches/leaf01/state?since=99999999999999999999", "since"),
        ("/v1/switches/leaf01/state?since=1.5", "since"),
        ("/v1/audit?limit=1e999999999", "limit"),  # not expanded to a billion digits
        ("/v1/networks?partition=fra%00", "partition"),  # PostgreSQL refuses NUL in text: was a 500
        ("/v1/networks?kind=a%20b", "kind"),
    ],
)
def test_a_query_value_outside_its_declared_type_or_bounds_is_a_422_naming_it(
    server: Server, path: str, field: str
) -> None:
    status, _, problem = _send(server, "GET", path)
    assert status == 422, problem
    assert field in [e.get("field") for e in problem.get("errors", [])], problem


def test_an_empty_query_value_means_absent_and_integers_may_have_an_exponent(server: Server) -> None:
    for path in (
        "/v1/audit?limit=",
        "/v1/audit?target=",
        "/v1/projects?project=",
        "/v1/ips?network=",
        "/v1/audit?limit=1e2",
        "/v1/audit?limit=5.0",
    ):  # JSON Schema's integers: zero fraction
        status, _, answer = _send(server, "GET", path)
        assert status == 200 and isinstance(answer, list), (path, answer)


def test_the_openapi_document_states_query_types_and_bounds(server: Server) -> None:
    _, _, document = _send(server, "GET", "/v1/openapi.json")
    audit = {p["name"]: p["schema"] for p in document["paths"]["/v1/audit"]["get"]["parameters"]}
    assert audit["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    state = {p["name"]: p for p in document["paths"]["/v1/switches/{name}/state"]["get"]["parameters"]}
    assert state["wait"]["schema"] == {"type": "number", "minimum": 0, "maximum": 600.0}
    assert state["since"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
    diff = {p["name"]: p for p in document["paths"]["/v1/switches/{name}/diff"]["get"]["parameters"]}
    assert diff["from"]["required"] and diff["to"]["required"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "leaf01", "sync": {"applied_revision": "1"}}, "sync.applied_revision"),
        ({"name": "leaf01", "sync": {"applied_revision": 1, "ok": "yes"}}, "sync.ok"),
        ({"name": "leaf01", "sync": {"applied_revision": 1}, "ports": [{"name": 7}]}, "ports[0].name"),
    ],
)
def test_a_status_report_is_validated_as_strictly_as_the_document_says(
    server: Server, body: dict, field: str
) -> None:
    status, _, problem = _send(server, "POST", "/v1/switches/leaf01/status", json.dumps(body).encode())
    assert status == 422, problem
    assert field in [e.get("field") for e in problem.get("errors", [])], problem


def test_free_text_with_nul_is_refused_naming_it(server: Server) -> None:
    body = json.dumps({"name": "nul", "description": "a\u0000b"}).encode()
    status, _, problem = _send(server, "POST", "/v1/projects", body)
    assert status == 422 and problem["field"] == "description", problem  # on PostgreSQL: was a 500


@pytest.mark.parametrize("revision", ["0", "0.0", "1e2", "9223372036854775807"])
def test_a_valid_status_report_is_still_accepted(server: Server, revision: str) -> None:
    # JSON Schema's integers include 0.0 and 1e2: strict validation takes them as integers.
    body = f'{{"name": "leaf01", "sync": {{"applied_revision": {revision}, "ok": true}}}}'
    status, _, answer = _send(server, "POST", "/v1/switches/leaf01/status", body.encode())
    assert status in (202, 404), answer  # 404 while leaf01 is not declared in this module's store


@pytest.mark.parametrize("revision", ["0.5", "9223372036854775808", "-1"])
def test_a_revision_that_is_no_integer_of_64_bits_is_refused(server: Server, revision: str) -> None:
    body = f'{{"name": "leaf01", "sync": {{"applied_revision": {revision}}}}}'
    status, _, problem = _send(server, "POST", "/v1/switches/leaf01/status", body.encode())
    assert status == 422 and problem["field"] == "sync.applied_revision", problem


def test_a_body_naming_another_object_than_the_path_is_refused(server: Server) -> None:
    body = json.dumps({"name": "leaf02", "sync": {"applied_revision": 0}}).encode()
    status, _, problem = _send(server, "POST", "/v1/switches/leaf01/status", body)
    assert status == 422, problem
    assert problem["errors"] == [
        {"field": "name", "reason": "the body names 'leaf02' but the path names 'leaf01'"}
    ]


def test_a_diff_at_the_last_revision_is_a_404_not_a_500(server: Server) -> None:
    status, _, problem = _send(server, "GET", f"/v1/switches/leaf01/diff?from={2**63 - 2}&to=0")
    assert status == 404, problem  # the revisions are BIGINT on PostgreSQL too


def test_links_chain_create_read_update_delete(server: Server) -> None:
    _, _, document = _send(server, "GET", "/v1/openapi.json")
    created = document["paths"]["/v1/projects"]["post"]["responses"]["2XX"]["links"]
    assert created["get_v1_projects_name"] == {
        "operationId": "get_v1_projects_name",
        "parameters": {"name": "$response.body#/name"},
    }
    assert {"put_v1_projects_name", "delete_v1_projects_name"} <= set(created)
    read = document["paths"]["/v1/switches/{name}"]["get"]["responses"]["200"]["links"]
    assert read["put_v1_switches_name"]["parameters"] == {
        "name": "$request.path.name",
        "header.If-Match": "$response.header.ETag",
    }
    machine = document["paths"]["/v1/machines"]["post"]["responses"]["2XX"]["links"]
    assert "get_v1_machines_name_status" not in machine  # a new machine has reported nothing yet


def test_a_listing_states_the_filters_it_takes_and_refuses_the_others(server: Server) -> None:
    _, _, document = _send(server, "GET", "/v1/openapi.json")
    stated = {p["name"] for p in document["paths"]["/v1/ips"]["get"]["parameters"] if p["in"] == "query"}
    assert stated == {"project", "network", "kind", "machine"}
    status, _, problem = _send(server, "GET", "/v1/ips?partition=fra")
    assert status == 422 and problem["errors"][0]["field"] == "partition", problem
