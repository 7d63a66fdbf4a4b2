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

from collections.abc import Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter

from fabric.core.observed import PLACEHOLDER
from fabric.core.ops import DelKey, SetKey

# KEYS: one per step (a key that is set and loses fields is two steps, HSET first).  ARGV: groups of
# consecutive steps of one kind, each `c n` then the arguments of its n steps: c > 0: each step is an
# HSET of c field/value pairs; c < 0: an HDEL of -c fields; c = 0: a DEL.  Grouped, a full leaf's
# phase is a handful of groups: no count to send and convert per key (Redis makes a Lua string of every
# argument before the script runs, which was a quarter of its time), one redis.call per step.
APPLY_SCRIPT = """
local call = redis.call
local i, k = 1, 1
while k <= #KEYS do
  local c, last = tonumber(ARGV[i]), k + tonumber(ARGV[i + 1]) - 1
  i = i + 2
  if c == 1 then
    for j = k, last do
      call('HSET', KEYS[j], ARGV[i], ARGV[i + 1])
      i = i + 2
    end
  elseif c > 0 then
    for j = k, last do
      call('HSET', KEYS[j], unpack(ARGV, i, i + 2 * c - 1))
      i = i + 2 * c
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


def _steps(ops: Iterable[SetKey | DelKey], sep: str) -> Iterator[tuple[int, str, list[str]]]:
    """(count, key, arguments) of each step of `ops` (SONiC's conventions applied here)."""
    for op in ops:
        key = f"{op.table}{sep}{op.key}"
        if isinstance(op, DelKey):
            yield 0, key, []
            continue
        fields = op.fields or _NO_FIELDS  # Redis has no empty hash: the placeholder
        yield len(fields), key, [arg for item in fields.items() for arg in item]
        drop = [f for f in op.drop if f not in fields]
        if drop:
            yield -len(drop), key, drop


def script_args(ops: Iterable[SetKey | DelKey], sep: str) -> tuple[list[str], list[str]]:
    """KEYS and ARGV of `APPLY_SCRIPT` for `ops`."""
    keys: list[str] = []
    argv: list[str] = []
    for count, group in groupby(_steps(ops, sep), key=itemgetter(0)):
        steps = list(group)
        argv += [str(count), str(len(steps))]
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
    argv: list[str] = []  # a field and its value are one entry; a group's header is filled in last
    groups: list[tuple[int, int, int]] = []  # (count, index of its header in argv, of its first key)
    count: int | None = None
    pairs = 0
    add_key, add_arg = keys.append, argv.append  # the loop runs once per key: no lookups in it
    for op in ops:
        key = f"{op.table}{sep}{op.key}"
        if op.action == "del":
            if count != 0:
                count = 0
                groups.append((0, len(argv), len(keys)))
                add_arg("")
            add_key(f"${len(key)}\r\n{key}\r\n")
            continue
        fields = op.fields or _NO_FIELDS
        if count != len(fields):
            count = len(fields)
            groups.append((count, len(argv), len(keys)))
            add_arg("")
        add_key(f"${len(key)}\r\n{key}\r\n")
        pairs += count
        for f, v in fields.items():
            add_arg(f"${len(f)}\r\n{f}\r\n${len(v)}\r\n{v}\r\n")
        if op.drop:
            drop = [f for f in op.drop if f not in fields]
            if drop:
                count = -len(drop)
                groups.append((count, len(argv), len(keys)))
                argv.append("")
                add_key(f"${len(key)}\r\n{key}\r\n")
                argv += [_bulk(f) for f in drop]
    ends = [first for _, _, first in groups[1:]] + [len(keys)]  # one too many when there is no group
    for (size, head, first), end in zip(groups, ends, strict=False):
        argv[head] = f"{_bulk(str(size))}{_bulk(str(end - first))}"
    arity = 3 + len(keys) + len(argv) + len(groups) + pairs  # a header is two arguments, a pair two
    text = "".join([f"*{arity}\r\n$7\r\nEVALSHA\r\n{_bulk(sha)}{_bulk(str(len(keys)))}", *keys, *argv])
    if text.isascii():  # RESP counts bytes, which equal characters only for ASCII text
        return text.encode()
    keys_, argv_ = script_args(ops, sep)
    return encode_command(["EVALSHA", sha, str(len(keys_)), *keys_, *argv_])


def encode_command(args: Sequence[str]) -> bytes:
    """One Redis command in RESP (an array of bulk strings), ready for a single socket write."""
    parts = [arg.encode() for arg in args]
    return b"*%d\r\n%b" % (len(parts), b"".join([b"$%d\r\n%b\r\n" % (len(p), p) for p in parts]))
