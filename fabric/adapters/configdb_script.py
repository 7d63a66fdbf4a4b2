"""One CONFIG_DB phase as one Redis command: the script, its arguments and their RESP bytes.

A phase is one ``EVALSHA`` of `APPLY_SCRIPT` with every key and field an argument: Redis runs a script
atomically, and a command that did not arrive whole is never run, so no key of a phase is half-written.
HSET/HDEL/DEL inside a script fire the same keyspace notifications SONiC's managers subscribe to.

SONiC's conventions applied here (`script_args`):
- a `SetKey` without fields and without `drop` writes the placeholder field ``NULL`` = ``NULL`` (Redis
  has no empty hash); one without fields but with `drop` is an HDEL only: the planner made it for a key
  that keeps other fields (it puts the placeholder in `fields` itself when the key would be left empty);
- the placeholder is removed only when the plan says so (``NULL`` in `SetKey.drop`: the planner saw the
  key hold it), so a key that never had one gets no HDEL, and SONiC's managers no spurious ``hdel`` event.

`apply_command` builds the RESP bytes directly (one str, encoded once): on a full leaf, Python's
encoding was as costly as Redis's own work.  `encode_command(["EVALSHA", sha, n, *keys, *argv])` is
the same bytes built the plain way (the tests hold the two equal; non-ASCII text takes that way).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter

from fabric.core.observed import PLACEHOLDER
from fabric.core.ops import DelKey, SetKey

# KEYS: one per step (a key that is set and loses fields is two steps, HSET first).  ARGV: groups of
# consecutive steps of one shape, each `c n` then, for c > 0, the c field names, then the arguments of
# its n steps: c > 0: an HSET of those fields, the step's arguments are their c values; c < 0: an HDEL
# of the step's -c fields; c = 0: a DEL.  A full leaf's phase is a handful of groups (all VRF keys set
# `vni`, all PORT keys `admin_status` and `mtu`): no count per key, no field name repeated per key
# (Redis makes a Lua string of every argument before the script runs: that was a quarter of its
# time), one redis.call per step.
APPLY_SCRIPT = """
local call = redis.call
local i, k = 1, 1
while k <= #KEYS do
  local c, last = tonumber(ARGV[i]), k + tonumber(ARGV[i + 1]) - 1
  i = i + 2
  if c == 1 then
    local name = ARGV[i]
    i = i + 1
    for j = k, last do
      call('HSET', KEYS[j], name, ARGV[i])
      i = i + 1
    end
  elseif c > 1 then
    local pairs = {}
    for x = 1, c do pairs[2 * x - 1] = ARGV[i + x - 1] end
    i = i + c
    for j = k, last do
      for x = 1, c do pairs[2 * x] = ARGV[i + x - 1] end
      call('HSET', KEYS[j], unpack(pairs))
      i = i + c
    end
  elseif c < 0 then
    for j = k, last do
      call('HDEL', KEYS[j], unpack(ARGV, i, i - c - 1))
      i = i - c
    end
  else
    for j = k, last do
      call('DEL', KEYS[j])
    end
  end
  k = last + 1
end
return #KEYS
"""

_NO_FIELDS = {PLACEHOLDER: PLACEHOLDER}

Shape = tuple[str, ...] | int
"""A step's shape: the field names it sets, the number of fields it drops (negative), or 0 (DEL)."""


def _steps(ops: Iterable[SetKey | DelKey], sep: str) -> Iterator[tuple[Shape, str, list[str]]]:
    """(shape, key, arguments) of each step of `ops` (SONiC's conventions applied here)."""
    for op in ops:
        key = f"{op.table}{sep}{op.key}"
        if isinstance(op, DelKey):
            yield 0, key, []
            continue
        fields = op.fields or ({} if op.drop else _NO_FIELDS)  # Redis has no empty hash: the placeholder
        if fields:
            yield tuple(fields), key, list(fields.values())
        drop = [f for f in op.drop if f not in fields]
        if drop:
            yield -len(drop), key, drop


def script_args(ops: Iterable[SetKey | DelKey], sep: str) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of `APPLY_SCRIPT` for `ops`."""
    keys: list[str] = []
    argv: list[str] = []
    for shape, group in groupby(_steps(ops, sep), key=itemgetter(0)):
        steps = list(group)
        if isinstance(shape, tuple):
            argv += [str(len(shape)), str(len(steps)), *shape]
        else:
            argv += [str(shape), str(len(steps))]
        for _, key, args in steps:
            keys.append(key)
            argv += args
    return keys, argv


def _bulk(text: str) -> str:
    return f"${len(text)}\r\n{text}\r\n"


def apply_command(sha: str, ops: Sequence[SetKey | DelKey], sep: str) -> bytes:
    """``EVALSHA sha`` of `APPLY_SCRIPT` for `ops`, as RESP bytes: `encode_command` of `script_args`.

    The same steps as `_steps`, written straight into RESP text in one pass (no intermediate lists).
    """
    keys: list[str] = []
    argv: list[str] = []  # a group's header is filled in last
    groups: list[tuple[Shape, int, int]] = []  # (shape, index of its header in argv, of its first key)
    shape: Shape | None = None
    add_key, add_arg = keys.append, argv.append  # the loop runs once per key: no lookups in it
    for op in ops:
        key = f"{op.table}{sep}{op.key}"
        if op.action == "del":
            if shape != 0:
                shape = 0
                groups.append((0, len(argv), len(keys)))
                add_arg("")
            add_key(f"${len(key)}\r\n{key}\r\n")
            continue
        fields = op.fields or ({} if op.drop else _NO_FIELDS)
        if fields:
            names = tuple(fields)
            if shape != names:
                shape = names
                groups.append((names, len(argv), len(keys)))
                add_arg("")
            add_key(f"${len(key)}\r\n{key}\r\n")
            for value in fields.values():
                add_arg(f"${len(value)}\r\n{value}\r\n")
        if op.drop:
            drop = [f for f in op.drop if f not in fields]
            if drop:
                shape = -len(drop)
                groups.append((shape, len(argv), len(keys)))
                add_arg("")
                add_key(f"${len(key)}\r\n{key}\r\n")
                argv += [_bulk(f) for f in drop]
    arity = 3 + len(keys) + len(argv) + len(groups)  # a header stands for two arguments and its names
    ends = [first for _, _, first in groups[1:]] + [len(keys)]  # one too many when there is no group
    for (kind, head, first), end in zip(groups, ends, strict=False):
        if isinstance(kind, tuple):
            argv[head] = "".join([_bulk(str(len(kind))), _bulk(str(end - first)), *map(_bulk, kind)])
            arity += len(kind)
        else:
            argv[head] = f"{_bulk(str(kind))}{_bulk(str(end - first))}"
    text = "".join([f"*{arity}\r\n$7\r\nEVALSHA\r\n{_bulk(sha)}{_bulk(str(len(keys)))}", *keys, *argv])
    if text.isascii():  # RESP counts bytes, which equal characters only for ASCII text
        return text.encode()
    keys_, argv_ = script_args(ops, sep)
    return encode_command(["EVALSHA", sha, str(len(keys_)), *keys_, *argv_])


def encode_command(args: Sequence[str]) -> bytes:
    """One Redis command in RESP (an array of bulk strings), ready for a single socket write."""
    parts = [arg.encode() for arg in args]
    return b"*%d\r\n%b" % (len(parts), b"".join([b"$%d\r\n%b\r\n" % (len(p), p) for p in parts]))
