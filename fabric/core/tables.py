"""`Tables`: a SONiC Redis database as data (CONFIG_DB, APPL_DB or STATE_DB)."""

from __future__ import annotations

Tables = dict[str, dict[str, dict[str, str]]]
"""table → key → field → value, as SONiC stores them (every value a string)."""
