"""The asyncio Redis client against a real redis-server: commands, types, errors, batches."""

from __future__ import annotations

import math

import anyio
import pytest
import redis_server  # loaded by conftest.py
from adapter_under_test import adapter

from tidewire import LocalProtocolError
from tidewire_resp import (
    BigNumber,
    ErrorReply,
    MapPairs,
    Push,
    SetMembers,
    SimpleString,
    Verbatim,
)

resp = adapter.resp

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[3, 2], ids=["resp3", "resp2"])
async def conn(server, request):
    async with resp.connect(server.url, protocol=request.param) as connection:
        assert connection.protocol == request.param
        await connection.execute("FLUSHALL")
        yield connection


@pytest.fixture
async def conn3(server):
    async with resp.connect(server.url) as connection:
        await connection.execute("FLUSHALL")
        yield connection


# -- connecting ----------------------------------------------------------------


async def test_url_sets_db_name_and_resp3(server):
    async with resp.connect(f"{server.url}/3?client_name=worker") as conn:
        assert conn.protocol == 3
        assert await conn.execute("CLIENT", "GETNAME") == b"worker"
        info = await conn.execute("CLIENT", "INFO", decode=True)
        assert " db=3 " in info
        assert "resp=3" in info
        assert repr(conn).endswith("RESP3>")
        assert conn.events.get_extra_info("peername")[1] == server.port


async def test_keywords_override_the_url(server):
    async with resp.connect(
        "redis://127.0.0.1:1/1", port=server.port, db=2, protocol=2, client_name="k"
    ) as conn:
        assert conn.protocol == 2
        info = await conn.execute("CLIENT", "INFO", decode=True)
        assert " db=2 " in info and "resp=2" in info and "name=k " in info


async def test_unix_socket(server):
    async with resp.connect(f"unix://{server.unix_path}?db=4&protocol=2") as conn:
        assert conn.protocol == 2
        assert await conn.execute("PING") == b"PONG"
        assert " db=4 " in await conn.execute("CLIENT", "INFO", decode=True)


async def test_acl_user_and_password_in_url(server, conn3):
    await conn3.execute("ACL", "SETUSER", "alice", "on", ">s3cr:t@", "~*", "&*", "+@all")
    try:
        async with resp.connect(f"redis://alice:s3cr%3At%40@127.0.0.1:{server.port}/1") as c:
            assert await c.execute("ACL", "WHOAMI") == b"alice"
            assert c.protocol == 3
        with pytest.raises(resp.WrongPassError) as caught:
            async with resp.connect(f"redis://alice:wrong@127.0.0.1:{server.port}"):
                pass
        assert caught.value.code == "WRONGPASS"
    finally:
        await conn3.execute("ACL", "DELUSER", "alice")


async def test_requirepass_server():
    with redis_server.running_redis("--requirepass", "pw") as locked:
        async with resp.connect(locked.url, password="pw", protocol=2) as conn:
            assert await conn.execute("PING") == b"PONG"
        with pytest.raises(resp.NoAuthError):
            async with resp.connect(locked.url):  # HELLO without AUTH: NOAUTH
                pass


async def test_falls_back_to_resp2_when_hello_is_refused():
    with redis_server.running_redis("--rename-command", "HELLO", "") as old:
        async with resp.connect(old.url, client_name="legacy", db=1) as conn:
            assert conn.protocol == 2
            assert await conn.execute("CLIENT", "GETNAME") == b"legacy"
            assert await conn.execute("HSET", "h", "f", "v") == 1
            assert await conn.execute("HGETALL", "h") == [b"f", b"v"]


async def test_setup_error_closes_and_raises(server):
    with pytest.raises(resp.ReplyError, match="DB index is out of range"):
        async with resp.connect(server.url, db=99999):
            pass


async def test_bad_urls_and_protocols():
    with pytest.raises(ValueError, match="not a Redis URL"):
        resp.parse_url("http://x")
    for url in ("redis://h/notanumber", "redis://h?db=x"):
        with pytest.raises(ValueError, match="database in a Redis URL must be a number"):
            resp.parse_url(url)
    with pytest.raises(ValueError, match="protocol must be 2 or 3"):
        resp.connect("redis://localhost?protocol=4")
    assert resp.parse_url("rediss://u:p@h:1/2") == {
        "host": "h",
        "port": 1,
        "ssl": True,
        "db": 2,
        "username": "u",
        "password": "p",
    }
    assert resp.parse_url("redis://") == {"host": "localhost", "port": 6379}


async def test_connection_refused():
    port = redis_server.free_port()
    with pytest.raises(ConnectionRefusedError):
        async with resp.connect(f"redis://127.0.0.1:{port}", connect_timeout=5):
            pass


async def test_wrapping_a_foreign_stream_is_refused(server):
    EventStream = adapter.EventStream
    from tidewire_resp import ReplyReader

    with pytest.raises(TypeError, match="needs a ClientConnection"):
        resp.RedisConnection(EventStream(ReplyReader()))


# -- commands of every family ------------------------------------------------------


async def test_strings(conn):
    assert await conn.execute("SET", "s", "héllo") == b"OK"
    assert await conn.execute("GET", "s") == "héllo".encode()
    assert await conn.execute("GET", "s", decode=True) == "héllo"
    assert await conn.execute("GET", "missing") is None
    assert await conn.execute("INCRBY", "n", 41) == 41
    assert await conn.execute("INCRBYFLOAT", "f", 0.5) == b"0.5"
    assert await conn.execute("APPEND", "s", b"\x00\xff") == 8
    assert await conn.execute("MGET", "s", "missing", "n") == [
        "héllo".encode() + b"\x00\xff",
        None,
        b"41",
    ]
    assert await conn.execute("SET", "s", "x", "NX") is None
    assert await conn.execute("GETRANGE", "s", 0, 0) == b"h"
    assert await conn.execute("SET", "mv", memoryview(b"view")) == b"OK"
    assert await conn.execute("GET", "mv") == b"view"


async def test_lists(conn):
    assert await conn.execute("RPUSH", "l", "a", "b", "c") == 3
    assert await conn.execute("LRANGE", "l", 0, -1) == [b"a", b"b", b"c"]
    assert await conn.execute("LPOP", "l", 2) == [b"a", b"b"]
    assert await conn.execute("BLPOP", "l", 1) == [b"l", b"c"]
    assert await conn.execute("BLPOP", "l", 0.01) is None  # a timeout: null in both protocols
    assert await conn.execute("LRANGE", "l", 0, -1, decode=True) == []


async def test_hashes(conn):
    assert await conn.execute("HSET", "h", "a", 1, "b", 2) == 2
    got = await conn.execute("HGETALL", "h")
    if conn.protocol == 3:
        assert got == {b"a": b"1", b"b": b"2"}
        assert await conn.execute("HGETALL", "h", decode=True) == {"a": "1", "b": "2"}
    else:
        assert got == [b"a", b"1", b"b", b"2"]
    assert await conn.execute("HINCRBY", "h", "a", 5) == 6
    assert await conn.execute("HMGET", "h", "a", "zz") == [b"6", None]


async def test_sets(conn):
    assert await conn.execute("SADD", "s", "x", "y", "x") == 2
    members = await conn.execute("SMEMBERS", "s")
    expected = {b"x", b"y"}
    assert (members if conn.protocol == 3 else set(members)) == expected
    decoded = await conn.execute("SMEMBERS", "s", decode=True)
    assert set(decoded) == {"x", "y"}
    assert await conn.execute("SISMEMBER", "s", "y") == 1


async def test_sorted_sets(conn):
    assert await conn.execute("ZADD", "z", 1.5, "a", 2, "b") == 2
    score = await conn.execute("ZSCORE", "z", "a")
    assert score == (1.5 if conn.protocol == 3 else b"1.5")
    ranged = await conn.execute("ZRANGE", "z", 0, -1, "WITHSCORES")
    if conn.protocol == 3:
        assert ranged == [[b"a", 1.5], [b"b", 2.0]]
    else:
        assert ranged == [b"a", b"1.5", b"b", b"2"]
    assert await conn.execute("ZINCRBY", "z", 1, "a") in (2.5, b"2.5")


async def test_streams(conn):
    first = await conn.execute("XADD", "st", "*", "field", "one")
    second = await conn.execute("XADD", "st", "*", "field", "two")
    assert await conn.execute("XLEN", "st") == 2
    entries = await conn.execute("XRANGE", "st", "-", "+")
    assert entries == [[first, [b"field", b"one"]], [second, [b"field", b"two"]]]
    assert await conn.execute("XGROUP", "CREATE", "st", "g", "0") == b"OK"
    with pytest.raises(resp.BusyGroupError):
        await conn.execute("XGROUP", "CREATE", "st", "g", "0")
    read = await conn.execute("XREADGROUP", "GROUP", "g", "c", "COUNT", 1, "STREAMS", "st", ">")
    if conn.protocol == 3:
        assert read == {b"st": [[first, [b"field", b"one"]]]}
    else:
        assert read == [[b"st", [[first, [b"field", b"one"]]]]]
    with pytest.raises(resp.NoGroupError):
        await conn.execute("XREADGROUP", "GROUP", "nope", "c", "STREAMS", "st", ">")


async def test_scripting(conn):
    script = "return {KEYS[1], ARGV[1], 7}"
    assert await conn.execute("EVAL", script, 1, "k", "v") == [b"k", b"v", 7]
    sha = await conn.execute("SCRIPT", "LOAD", script, decode=True)
    assert await conn.execute("EVALSHA", sha, 1, "k2", "v2") == [b"k2", b"v2", 7]
    with pytest.raises(resp.NoScriptError) as caught:
        await conn.execute("EVALSHA", "0" * 40, 0)
    assert caught.value.code == "NOSCRIPT"
    with pytest.raises(resp.ReplyError, match="MYERR custom") as custom:
        await conn.execute("EVAL", "return redis.error_reply('MYERR custom')", 0)
    assert type(custom.value) is resp.ReplyError
    assert custom.value.code == "MYERR"


async def test_error_classes_follow_the_code(conn):
    await conn.execute("SET", "str", "v")
    with pytest.raises(resp.WrongTypeError) as caught:
        await conn.execute("LPUSH", "str", "x")
    assert isinstance(caught.value, resp.ReplyError)
    assert caught.value.code == "WRONGTYPE"
    with pytest.raises(resp.ReplyError) as generic:
        await conn.execute("NOSUCHCOMMAND")
    assert generic.value.code == "ERR"
    assert await conn.execute("PING") == b"PONG"  # still in sync


def test_error_table():
    moved = resp.reply_error("MOVED 3999 127.0.0.1:6381")
    assert type(moved) is resp.MovedError
    assert (moved.slot, moved.address) == (3999, "127.0.0.1:6381")
    ask = resp.reply_error("ASK x")
    assert type(ask) is resp.AskError and ask.slot == -1 and ask.address == ""
    assert resp.reply_error("lowercase message").code == ""
    for code, cls in resp.ERROR_CLASSES.items():
        assert type(resp.reply_error(f"{code} text")) is cls


async def test_unsendable_argument_sends_nothing(conn):
    with pytest.raises(LocalProtocolError):
        await conn.execute("SET", "k", None)
    with pytest.raises(LocalProtocolError):
        await conn.pipeline().add("SET", "k", True).execute()
    assert await conn.execute("PING") == b"PONG"
    assert conn.pending == 0


async def test_large_value_round_trip(conn3):
    big = bytes(range(256)) * (100 * 1024 * 1024 // 256)  # 100 MiB
    assert await conn3.execute("SET", "big", big) == b"OK"
    echoed, length = await conn3.pipeline().add("GET", "big").add("STRLEN", "big").execute()
    assert length == len(big)
    assert echoed == big
    await conn3.execute("DEL", "big")


# -- every RESP3 type the server produces ---------------------------------------------


DEBUG_TYPES = {
    "string": b"Hello World",
    "integer": 12345,
    "double": 3.141,
    "bignum": 1234567999999999999999999999999999999,
    "null": None,
    "array": [0, 1, 2],
    "set": {0, 1, 2},
    "map": {0: False, 1: True, 2: False},
    "attrib": b"Some real reply following the attribute",
    "push": b"Some real reply following the push reply",
    "verbatim": b"This is a verbatim\nstring",
    "true": True,
    "false": False,
}


@pytest.mark.parametrize("name", sorted(DEBUG_TYPES))
async def test_debug_protocol_resp3(server, name):
    pushes = []
    async with resp.connect(server.url, push_handler=pushes.append) as conn:
        value = await conn.execute("DEBUG", "PROTOCOL", name)
        assert value == DEBUG_TYPES[name]
        assert isinstance(value, type(DEBUG_TYPES[name]))
        if name == "push":
            assert pushes == [Push([b"server-cpu-usage", 42])]
        else:
            assert pushes == []


async def test_raw_replies_keep_resp3_details(conn3):
    attrib = await conn3.request("DEBUG", "PROTOCOL", "attrib")
    assert attrib.attributes == {b"key-popularity": [b"key:123", 90]}
    verbatim = await conn3.request("DEBUG", "PROTOCOL", "verbatim")
    assert verbatim.value == Verbatim("txt", b"This is a verbatim\nstring")
    big = await conn3.request("DEBUG", "PROTOCOL", "bignum")
    assert type(big.value) is BigNumber
    ok = await conn3.request("SET", "k", "v")
    assert type(ok.value) is SimpleString
    error = await conn3.request("LPUSH", "k", "x")
    assert type(error.value) is ErrorReply and error.value.code == "WRONGTYPE"


async def test_debug_protocol_resp2_degrades(server):
    async with resp.connect(server.url, protocol=2) as conn:
        assert await conn.execute("DEBUG", "PROTOCOL", "map") == [0, 0, 1, 1, 2, 0]
        assert await conn.execute("DEBUG", "PROTOCOL", "double") == b"3.141"
        assert await conn.execute("DEBUG", "PROTOCOL", "null") is None
        assert await conn.execute("DEBUG", "PROTOCOL", "true") == 1
        attrib = await conn.request("DEBUG", "PROTOCOL", "attrib")
        assert attrib.attributes is None


async def test_lua_resp3_types(conn3):
    def lua(body):
        return conn3.execute("EVAL", "redis.setresp(3); " + body, 0)

    assert await lua("return {double=1.5}") == 1.5
    assert await lua("return {double=1e300}") == 1e300
    assert math.isinf(await lua("return {double=1/0}"))
    assert math.isnan(await lua("return {double=0/0}"))
    assert await lua("return {big_number='-12345678901234567890'}") == -12345678901234567890
    assert await lua("return {verbatim_string={format='mkd', string='# hi'}}") == b"# hi"
    mkd = await conn3.request("EVAL", "return {verbatim_string={format='mkd', string='# hi'}}", 0)
    assert mkd.value == Verbatim("mkd", b"# hi")
    assert await lua("return {map={a={1,2}, b={double=1.5}}}") == {b"a": [1, 2], b"b": 1.5}
    assert await lua("return {set={x=true, y=true}}") == {b"x", b"y"}
    assert await lua("return {map={a=true}}") == {b"a": True}
    assert await conn3.execute("EVAL", "return {map={k='v'}}", 0, decode=True) == {"k": "v"}
    nested = await lua("return {1, redis.error_reply('NOSCRIPT inside'), 3}")
    assert nested[0] == 1 and nested[2] == 3
    assert type(nested[1]) is resp.NoScriptError


# -- pipelines and transactions ------------------------------------------------------


async def test_pipeline_returns_replies_in_order(conn):
    pipe = conn.pipeline()
    pipe.add("SET", "a", 1).add("INCR", "a").add("GET", "a")
    assert len(pipe) == 3
    assert await pipe.execute() == [b"OK", 2, b"2"]
    assert len(pipe) == 0
    assert await pipe.execute() == []


async def test_long_pipelines_of_every_reply_type(conn):
    # Thousands of commands: one batch in the core, and one reply for it.
    await conn.execute("RPUSH", "list", "a", "b")
    pipe = conn.pipeline()
    for i in range(3000):
        pipe.add("SET", f"k{i}", i).add("GET", f"k{i}").add("INCR", "n")
        pipe.add("LRANGE", "list", 0, -1)
    values = await pipe.execute()
    assert values[0::4] == [b"OK"] * 3000
    assert values[1::4] == [b"%d" % i for i in range(3000)]
    assert values[2::4] == list(range(1, 3001))
    assert values[3::4] == [[b"a", b"b"]] * 3000


async def test_pipelines_of_numbers_and_nulls_when_decoding(server):
    async with resp.connect(server.url, decode_responses=True) as conn:
        await conn.execute("DEL", "c")  # the module's server outlives a run on one backend
        pipe = conn.pipeline().add("DEL", "c").add("INCR", "c").add("GET", "nothing")
        assert await pipe.execute() == [0, 1, None]
        assert await conn.pipeline().add("GET", "c").execute() == ["1"]


async def test_pipeline_errors(conn):
    await conn.execute("SET", "s", "v")
    pipe = conn.pipeline().add("LPUSH", "s", "x").add("GET", "s")
    with pytest.raises(resp.WrongTypeError):
        await pipe.execute()
    values = (
        await conn.pipeline().add("LPUSH", "s", "x").add("GET", "s").execute(raise_on_error=False)
    )
    assert type(values[0]) is resp.WrongTypeError and values[1] == b"v"


async def test_pipeline_decodes(server):
    async with resp.connect(server.url, decode_responses=True) as conn:
        assert await conn.pipeline().add("SET", "d", "é").add("GET", "d").execute() == ["OK", "é"]
        assert await conn.execute("GET", "d") == "é"
        assert await conn.execute("GET", "d", decode=False) == "é".encode()


async def test_transaction(conn):
    results = await conn.pipeline(transaction=True).add("SET", "t", 1).add("INCR", "t").execute()
    assert results == [b"OK", 2]
    await conn.execute("SET", "s", "v")
    # A runtime error inside EXEC fails that command only.
    values = (
        await conn.pipeline(transaction=True)
        .add("LPUSH", "s", "x")
        .add("GET", "s")
        .execute(raise_on_error=False)
    )
    assert type(values[0]) is resp.WrongTypeError and values[1] == b"v"


async def test_transaction_with_a_bad_command_is_aborted(conn):
    pipe = conn.pipeline(transaction=True).add("SET", "a", 1).add("NOSUCHCOMMAND")
    with pytest.raises(resp.ExecAbortError) as caught:
        await pipe.execute()
    assert "unknown command" in str(caught.value.__cause__)
    assert await conn.execute("GET", "a") is None


async def test_exec_abort_without_queued_error_reply():
    # EXECABORT only: reported as is.
    with pytest.raises(resp.ExecAbortError):
        raise resp.reply_error("EXECABORT Transaction discarded")


async def test_watch_failure_raises_watch_error(server):
    async with resp.connect(server.url) as watcher, resp.connect(server.url) as other:
        await watcher.execute("SET", "w", 1)
        assert await watcher.execute("WATCH", "w") == b"OK"
        await other.execute("SET", "w", 2)
        with pytest.raises(resp.WatchError):
            await watcher.pipeline(transaction=True).add("SET", "w", 3).execute()
        assert await watcher.execute("GET", "w") == b"2"


async def test_client_reply_off_gets_no_reply(conn3):
    assert await conn3.execute("CLIENT", "REPLY", "OFF") is None
    assert await conn3.execute("SET", "quiet", 1) is None
    assert await conn3.pipeline().add("SET", "quiet", 3).add("INCR", "quiet").execute() == [
        None,
        None,
    ]
    values = await conn3.pipeline().add("SET", "quiet", 2).add("CLIENT", "REPLY", "ON").execute()
    assert values == [None, b"OK"]
    assert await conn3.execute("GET", "quiet") == b"2"


async def test_push_inside_exec_is_not_a_result(server):
    # Redis 7.0 nests the push of a self-PUBLISH inside the EXEC array.
    pushes = []
    async with resp.connect(server.url, push_handler=pushes.append) as conn:
        await conn.subscribe("a")
        results = await (
            conn.pipeline(transaction=True)
            .add("PING", "x")
            .add("PUBLISH", "a", "m1")
            .add("PING", "y")
            .execute()
        )
        assert results == [b"x", 1, b"y"]
        message = await conn.get_message()
        assert message == resp.Message("message", b"a", b"m1")
        assert pushes == []


async def test_maps_and_sets_python_cannot_hold(conn3):
    async def lua(body, **options):
        return await conn3.execute("EVAL", "redis.setresp(3); " + body, 0, **options)

    pairs = await lua("return {map={[true]='t', [1]='one'}}")
    assert type(pairs) is MapPairs
    assert sorted(pairs, key=repr) == [(1, b"one"), (True, b"t")]
    assert sorted(await lua("return {map={[true]='t', [1]='one'}}", decode=True), key=repr) == [
        (1, "one"),
        (True, "t"),
    ]
    assert await lua("return {map={[{'k'}]='v'}}", decode=True) == MapPairs([(["k"], "v")])
    members = await lua("return {set={[{'a','b'}]=true}}", decode=True)
    assert type(members) is SetMembers
    assert members == SetMembers([["a", "b"]])
    assert await lua("return {set={[{'a'}]=true}}") == SetMembers([[b"a"]])


async def test_a_refused_batch_sends_nothing(conn):
    for bad in [("SET", "k", None), ("SET", "k", True), (), ("SET", "k", object())]:
        with pytest.raises(LocalProtocolError):
            await conn.pipeline().add("SET", "first", 1).add(*bad).execute()
        with pytest.raises(LocalProtocolError):
            await conn.pipeline(transaction=True).add("SET", "first", 1).add(*bad).execute()
    for name in ("SUBSCRIBE", b"psubscribe"):
        with pytest.raises(LocalProtocolError, match="SUBSCRIBE"):
            await conn.pipeline(transaction=True).add("SET", "first", 1).add(name, "c").execute()
    assert await conn.execute("EXISTS", "first") == 0
    assert conn.pending == 0


async def test_a_batch_the_core_refuses_midway_stays_in_sync(conn):
    strided = memoryview(b"abcdef")[::2]  # not contiguous: only the core refuses it
    for transaction in (False, True):
        pipe = conn.pipeline(transaction=transaction)
        with pytest.raises(LocalProtocolError, match="non-contiguous"):
            await pipe.add("SET", "t", 1).add("SET", "k", strided).execute()
        # Not left inside MULTI, and no stray reply for anyone.
        assert await conn.execute("SET", "after", 2) == b"OK"
        assert await conn.pipeline().add("GET", "after").add("PING").execute() == [b"2", b"PONG"]
        with anyio.fail_after(10):  # the abandoned replies are read and dropped
            while conn.pending:
                await anyio.sleep(0.001)
