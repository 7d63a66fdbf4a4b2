"""Backup and restore of the store: SQLite's online backup API, or pg_dump / psql."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

from fabric.adapters.process import run_checked
from fabric.adapters.store.engine import normalise_url


def _sqlite_path(url: str) -> str | None:
    url = normalise_url(url)
    return url.split(":///", 1)[1] if url.startswith("sqlite") else None


def _pg_url(url: str) -> str:
    parts = urlsplit(normalise_url(url))
    return parts._replace(scheme="postgresql").geturl()


def _sqlite_copy(source: str, target: str) -> None:
    """Copy one SQLite database over another with the online backup API (safe while it is in use)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def backup(url: str, file: str) -> None:
    """A consistent copy of the store in `file`, taken while the API keeps serving."""
    path = _sqlite_path(url)
    if path is not None:
        _sqlite_copy(path, file)
        return
    run_checked(
        ["pg_dump", "--clean", "--if-exists", "--no-owner", "-f", file, _pg_url(url)], phase="pg_dump"
    )


def restore(url: str, file: str) -> None:
    """Replace the store's content with the backup in `file`."""
    path = _sqlite_path(url)
    if path is not None:
        _sqlite_copy(file, path)
        return
    run_checked(["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", file, _pg_url(url)], phase="psql")
