"""One CONFIG_DB phase as one Redis command: the script, its arguments and their RESP bytes.

A phase is one ``EVALSHA`` of `APPLY_SCRIPT` with every key and field an argument: Redis runs a script
atomically, and a command that did not arrive whole is never run, so no key of a phase is half-written.
HSET/HDEL/DEL inside a script fire the same keyspace notifications SONiC's managers subscribe to.

SONiC's conventions applied here (`script_args`):
- a `SetKey` without fields writes the placeholder field ``NULL`` = ``NULL`` (Redis has no empty hash);
- the placeholder is removed only when the plan says so (``NULL`` in `SetKey.drop`: the planner saw the
  key hold it), so a key that never had one gets no HDEL, and SONiC's managers no spurious ``hdel`` event.

`apply_command` builds the RESP bytes directly (one str, encoded once): on a full leaf, Python's
encoding was as costly as Redis's own work.  `encode_command(["EVALSHA", sha, n, *keys, *argv])` is
the same bytes built the plain way (the tests hold the two equal; non-ASCII text takes that way).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fabric.core.observed import PLACEHOLDER
from fabric.core.ops import DelKey, SetKey

# ARGV per key, in KEYS order, one count c then its arguments: c > 0: HSET of the next c field/value
# pairs; c < 0: HDEL of the next -c fields; c = 0: DEL.  A key that is set and loses fields appears
# twice in KEYS (HSET first).  One tonumber and one redis.call per step, nothing else per key.
APPLY_SCRIPT = """
local i = 1
local call = redis.call
for k = 1, #KEYS do
  local c = tonumber(ARGV[i])
  if c > 0 then
    call('HSET', KEYS[k], unpack(ARGV, i + 1, i + 2 * c))
    i = i + 1 + 2 * c
  elseif c < 0 then
    call('HDEL', KEYS[k], unpack(ARGV, i + 1, i - c))
    i = i + 1 - c
  else
    call('DEL', KEYS[k])
    i = i + 1
  end
end
return #KEYS
"""


def _set_fields(op: SetKey) -> tuple[dict[str, str], list[str]]:
    """The fields to HSET (the placeholder for none) and to HDEL of `op`."""
    fields = dict(op.fields) or {PLACEHOLDER: PLACEHOLDER}
    return fields, [f for f in op.drop if f not in fields]


def script_args(ops: Iterable[SetKey | DelKey], sep: str) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of `APPLY_SCRIPT` for `ops` (SONiC's conventions applied here)."""
    keys: list[str] = []
    argv: list[str] = []
    for op in ops:
        key = f"{op.table}{sep}{op.key}"
        if isinstance(op, DelKey):
            keys.append(key)
            argv.append("0")
            continue
        fields, drop = _set_fields(op)
        keys.append(key)
        argv.append(str(len(fields)))
        for item in fields.items():
            argv += item
        if drop:
            keys.append(key)
            argv.append(str(-len(drop)))
            argv += drop
    return keys, argv


def _bulk(text: str) -> str:
    return f"${len(text)}\r\n{text}\r\n"


_COUNTS = {n: _bulk(str(n)) for n in range(-16, 17)}


def _count(n: int) -> str:
    return _COUNTS.get(n) or _bulk(str(n))


def apply_command(sha: str, ops: Sequence[SetKey | DelKey], sep: str) -> bytes:
    """``EVALSHA sha`` of `APPLY_SCRIPT` for `ops`, as RESP bytes (equal to `encode_command` of them)."""
    keys: list[str] = []
    argv: list[str] = []
    pairs = 0  # a field and its value are one string of `argv`
    for op in ops:
        key = _bulk(f"{op.table}{sep}{op.key}")
        keys.append(key)
        if isinstance(op, DelKey):
            argv.append(_COUNTS[0])
            continue
        fields = op.fields
        if not fields:
            fields = {PLACEHOLDER: PLACEHOLDER}
        argv.append(_count(len(fields)))
        pairs += len(fields)
        argv += [f"${len(f)}\r\n{f}\r\n${len(v)}\r\n{v}\r\n" for f, v in fields.items()]
        if op.drop:
            drop = [f for f in op.drop if f not in fields]
            if drop:
                keys.append(key)
                argv.append(_count(-len(drop)))
                argv += [_bulk(f) for f in drop]
    head = f"*{3 + len(keys) + len(argv) + pairs}\r\n$7\r\nEVALSHA\r\n{_bulk(sha)}{_bulk(str(len(keys)))}"
    text = "".join([head, *keys, *argv])
    if text.isascii():  # RESP counts bytes, which equal characters only for ASCII text
        return text.encode()
    keys_, argv_ = script_args(ops, sep)
    return encode_command(["EVALSHA", sha, str(len(keys_)), *keys_, *argv_])


def encode_command(args: Sequence[str]) -> bytes:
    """One Redis command in RESP (an array of bulk strings), ready for a single socket write."""
    parts = [arg.encode() for arg in args]
    return b"*%d\r\n%b" % (len(parts), b"".join([b"$%d\r\n%b\r\n" % (len(p), p) for p in parts]))
