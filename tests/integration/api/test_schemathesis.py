"""Property-based run of schemathesis against the live `/v1/openapi.json` (SQLite store): every
operation, a bounded number of generated requests each, checked for server errors (no 5xx) and for
answers that conform to the documented response schema."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from conftest import Server, start_server, stop_server
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES = 10  # per operation: keeps the whole run well under a minute


@pytest.fixture(scope="module")
def live() -> Iterator[Server]:
    server = start_server(f"sqlite:///{tempfile.mkdtemp(prefix='fabric-st-')}/fabric.db", "sqlite")
    try:
        yield server
    finally:
        stop_server(server.pid)


def test_no_server_error_and_answers_match_the_document(live: Server) -> None:
    # schemathesis' pytest plugin (`from_fixture`) does not run under pytest 9 here, so each operation
    # gets its own hypothesis run from the operation's strategy.
    api = schemathesis.openapi.from_url(f"{live.url}/v1/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) > 40  # every route of the document
    failures: list[str] = []
    for operation in operations:
        try:
            _exercise(operation, live)
        except BaseException as exc:  # schemathesis raises a group: collect every operation's failure
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)


def _exercise(operation: Any, live: Server) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        if case.query and "wait" in case.query:
            case.query["wait"] = "0"  # a long-poll would only wait; its answers are checked without it
        case.call_and_validate(
            base_url=live.url,
            headers={"Authorization": f"Bearer {live.admin}"},
            checks=[not_a_server_error, response_schema_conformance],
            timeout=20,
        )

    run()
