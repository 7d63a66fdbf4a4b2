"""ips_take_span: inserting an IP at the first value of a free span takes it from the span

The one-statement acquire (`fabric.adapters.store.nextfree`) inserts the lowest free address with
`INSERT … SELECT`; this trigger shrinks (or drops) the free span it came from in the same statement.
Paths that carve the span themselves before inserting (a given address, the locking path) leave no span
starting at the new key, so the trigger does nothing for them.  `fabric_key_add` and `fabric_address`
are SQL functions: plpgsql/SQL here for PostgreSQL, Python functions registered on every SQLite
connection by `fabric.adapters.store.engine`.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SQLITE_TRIGGER = """
CREATE TRIGGER ips_take_span AFTER INSERT ON ips
BEGIN
  DELETE FROM free_ranges WHERE pool_id = NEW.pool_id AND first = NEW.key AND last = NEW.key;
  UPDATE free_ranges SET first = fabric_key_add(NEW.key, 1) WHERE pool_id = NEW.pool_id AND first = NEW.key;
END
"""

PG_FUNCTIONS = [
    # Keys are 32 hex digits (128 bits): add in four 32-bit limbs with carry.
    """
CREATE OR REPLACE FUNCTION fabric_key_add(k text, n bigint) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  result text := '';
  carry bigint := n;
  limb bigint;
BEGIN
  FOR i IN REVERSE 4..1 LOOP
    limb := ('x' || substr(k, i * 8 - 7, 8))::bit(32)::bigint + carry;
    carry := limb >> 32;
    result := lpad(to_hex(limb & 4294967295), 8, '0') || result;
  END LOOP;
  RETURN result;
END $$
""",
    """
CREATE OR REPLACE FUNCTION fabric_address(k text, fam integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN fam = 4
    THEN host('0.0.0.0'::inet + ('x' || substr(k, 25, 8))::bit(32)::bigint)
    ELSE host(concat_ws(':', substr(k, 1, 4), substr(k, 5, 4), substr(k, 9, 4), substr(k, 13, 4),
                        substr(k, 17, 4), substr(k, 21, 4), substr(k, 25, 4), substr(k, 29, 4))::inet)
  END
$$
""",
    """
CREATE OR REPLACE FUNCTION fabric_ips_take_span() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM free_ranges WHERE pool_id = NEW.pool_id AND first = NEW.key AND last = NEW.key;
  IF NOT FOUND THEN
    UPDATE free_ranges SET first = fabric_key_add(NEW.key, 1)
     WHERE pool_id = NEW.pool_id AND first = NEW.key;
  END IF;
  RETURN NULL;
END $$
""",
    """
CREATE TRIGGER ips_take_span AFTER INSERT ON ips
FOR EACH ROW EXECUTE FUNCTION fabric_ips_take_span()
""",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(SQLITE_TRIGGER)
    else:
        for statement in PG_FUNCTIONS:
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS ips_take_span" + ("" if _sqlite() else " ON ips"))
    if not _sqlite():
        for fn in ("fabric_ips_take_span()", "fabric_address(text, integer)", "fabric_key_add(text, bigint)"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}")


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"
