"""Maps and sets whose keys all hash alike parse in linear time (issue 12, item 3).

CPython does not randomise the hash of an int or a float: every multiple of
2**61 - 1 hashes to 0. A dict or set built from thousands of such keys
takes quadratic time. Timing is not asserted (it would be flaky); what is
asserted is the structural property that makes parsing linear: no dict or
set the parser builds ever holds more than a few keys sharing one hash, and
the wire content is all there.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tidewire_resp import (
    Attributed,
    BigNumber,
    ClientConnection,
    MapPairs,
    Push,
    ReplyReader,
    SetMembers,
)

P = 2**61 - 1  # the modulus of CPython's numeric hash
# CPython's int hash is the value modulo P: at most 9 64-bit integers share one.
MOST_SHARING_ONE_HASH = 9


def parse(data: bytes) -> list[Any]:
    reader = ReplyReader()
    reader.receive_data(data)
    return [event.value if type(event) is not Push else event for event in reader.events()]


def test_a_map_of_colliding_big_number_keys_keeps_its_pairs() -> None:
    count = 3000
    keys = [P * (i + 1) for i in range(count)]
    assert len({hash(key) for key in keys}) == 1
    wire = b"%%%d\r\n" % count + b"".join(
        b"(%d\r\n:%d\r\n" % (key, i) for i, key in enumerate(keys)
    )
    (value,) = parse(wire)
    assert type(value) is MapPairs
    assert value == [(BigNumber(key), i) for i, key in enumerate(keys)]
    assert all(type(key) is BigNumber for key, _ in value)


def test_a_set_of_colliding_big_numbers_or_doubles_keeps_its_members() -> None:
    numbers = [P * (i + 1) for i in range(2000)]
    (members,) = parse(b"~2000\r\n" + b"".join(b"(%d\r\n" % n for n in numbers))
    assert type(members) is SetMembers and members == numbers
    doubles = [2.0 ** (61 * j) for j in range(-17, 17)]
    assert len({hash(d) for d in doubles}) == 1
    wire = b"~%d\r\n" % len(doubles) + b"".join(b",%r\r\n" % d for d in doubles)
    (members,) = parse(wire)
    assert type(members) is SetMembers and members == doubles


def test_streamed_maps_and_attributes_with_big_number_keys_keep_their_pairs() -> None:
    (streamed,) = parse(b"%?\r\n(1\r\n:1\r\n(2\r\n:2\r\n.\r\n")
    assert streamed == MapPairs([(1, 1), (2, 2)])
    client = ClientConnection(protocol=3)
    request = client.command("GET", "k")
    client.receive_data(b"|1\r\n(5\r\n:5\r\n*1\r\n|1\r\n,1.5\r\n:0\r\n:7\r\n")
    (reply,) = list(client.events())
    assert reply.request == request
    assert reply.attributes == MapPairs([(5, 5)])
    assert reply.value == [Attributed(7, MapPairs([(1.5, 0)]))]


def test_maps_of_safe_keys_are_still_dicts() -> None:
    wire = b"%4\r\n$1\r\na\r\n:1\r\n:-1\r\n:2\r\n:-2\r\n:3\r\n#t\r\n:4\r\n"
    assert parse(wire) == [{b"a": 1, -1: 2, -2: 3, True: 4}]
    assert type(parse(wire)[0]) is dict
    assert parse(b"~3\r\n:0\r\n:%d\r\n:%d\r\n" % (P, 2 * P)) == [{0, P, 2 * P}]


# -- the class of bug: random maps and sets of colliding keys ------------------------

INT64_COLLIDING = [k * P for k in range(-4, 5)] + [-1, -2]
# Families of keys: all of one family in an aggregate is the attack.
families = [
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda k: b"(%d\r\n" % (k * P)),
    st.sampled_from(INT64_COLLIDING).map(lambda n: b":%d\r\n" % n),
    st.integers(min_value=-17, max_value=16).map(lambda j: b",%r\r\n" % 2.0 ** (61 * j)),
    st.sampled_from([b",inf\r\n", b",-inf\r\n", b",nan\r\n", b"#t\r\n", b"#f\r\n", b"_\r\n"]),
    st.binary(max_size=3).map(lambda b: b"$%d\r\n%b\r\n" % (len(b), b)),
]
colliding_scalars = st.one_of(families)


def aggregates(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    def build(kind: bytes, items: list[bytes], streamed: bool) -> bytes:
        count = len(items) // 2 if kind == b"%" else len(items)
        body = b"".join(items[: count * 2] if kind == b"%" else items)
        if streamed and kind != b"*":
            return kind + b"?\r\n" + body + b".\r\n"
        return kind + b"%d\r\n" % count + body

    homogeneous = st.sampled_from(families).flatmap(lambda family: st.lists(family, max_size=60))
    mixed = st.lists(children, max_size=20)
    return st.builds(build, st.sampled_from([b"%", b"~", b"*"]), homogeneous | mixed, st.booleans())


colliding_values = st.recursive(colliding_scalars, aggregates, max_leaves=120)


def walk(value: Any) -> list[Any]:
    """Every dict and set inside ``value``, ``value`` included."""
    found = []
    todo = [value]
    while todo:
        item = todo.pop()
        if type(item) in (dict, set):
            found.append(item)
        if type(item) is dict:
            todo.extend(item.values())
        elif type(item) in (list, tuple, MapPairs, SetMembers):
            todo.extend(item)
        elif type(item) is Attributed:
            todo.extend((item.value, item.attributes))
    return found


@given(st.lists(colliding_values, min_size=1, max_size=4))
def test_fuzz_colliding_keys_never_fill_a_dict_or_set(replies: list[bytes]) -> None:
    values = parse(b"".join(replies))
    assert len(values) == len(replies)
    for container in walk(values):
        most = max(Counter(map(hash, container)).values(), default=0)
        assert most <= MOST_SHARING_ONE_HASH, container
