"""The reference pages in docs/reference/ are what the code generates (`make reference` updates them):
the CLI, the REST API, configuration files, documents and metrics are never retyped by hand."""

from __future__ import annotations

import difflib

import pytest

from tools.reference import PAGES, REFERENCE


@pytest.mark.parametrize("name", sorted(PAGES))
def test_committed_reference_page_is_current(name: str) -> None:
    committed = (REFERENCE / name).read_text()
    generated = PAGES[name]()
    diff = "".join(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True), n=1))
    assert committed == generated, f"docs/reference/{name} is stale: run `make reference`\n{diff[:3000]}"


def test_no_page_cites_a_file_outside_the_repository() -> None:
    docs = REFERENCE.parent
    outside = [
        p.name for p in docs.rglob("*.md") if "../shared" in p.read_text() or "ARCHITECTURE" in p.read_text()
    ]
    assert outside == []
