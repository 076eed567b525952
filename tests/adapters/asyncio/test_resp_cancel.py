"""Cancellation, automatic pipelining, connection loss and reconnection, on a real server."""

from __future__ import annotations

import asyncio
import random
import socket
import ssl

import anyio
import pytest
import redis_server  # loaded by conftest.py
import trustme

from tidewire import RemoteProtocolError
from tidewire_asyncio import ConnectionLostError, StreamClosedError, resp

pytestmark = pytest.mark.anyio


async def test_concurrent_callers_share_one_connection(server):
    async with await resp.connect(server.url) as conn:
        await conn.execute("SET", "shared", "v")

        async def call(i):
            return await conn.execute("ECHO", f"token-{i}")

        results = await asyncio.gather(*(call(i) for i in range(2000)))
        assert results == [f"token-{i}".encode() for i in range(2000)]
        clients = await conn.execute("CLIENT", "LIST", decode=True)
        assert clients.count("\n") == 1  # one connection did it all
        assert conn.pending == 0


@pytest.mark.parametrize("protocol", [3, 2])
async def test_cancellation_stress(server, protocol):
    """Cancel at random points; every reply that arrives must be the caller's own."""
    rng = random.Random(20231117)
    checked = cancelled = 0
    async with await resp.connect(server.url, protocol=protocol) as conn:

        async def one(i):
            nonlocal checked, cancelled
            token = f"{i}:" + "x" * rng.choice((1, 10, 1000, 70_000))
            try:
                with anyio.fail_after(rng.choice((0, 1e-5, 1e-4, 1e-3, 10))):
                    if rng.random() < 0.2:
                        values = await (
                            conn.pipeline(transaction=rng.random() < 0.5)
                            .add("ECHO", token)
                            .add("ECHO", token + "!")
                            .execute()
                        )
                        assert values == [token.encode(), token.encode() + b"!"]
                    else:
                        assert await conn.execute("ECHO", token) == token.encode()
                checked += 1
            except TimeoutError:
                cancelled += 1

        async def canceller(tasks):
            for _ in range(200):
                await asyncio.sleep(rng.choice((0, 0, 1e-4)))
                victim = rng.choice(tasks)
                victim.cancel()

        for _round in range(5):
            tasks = [asyncio.ensure_future(one(i)) for i in range(400)]
            killer = asyncio.ensure_future(canceller(tasks))
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            killer.cancel()
            await asyncio.gather(killer, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, asyncio.CancelledError):
                    cancelled += 1
                else:
                    assert outcome is None  # no AssertionError: every reply matched
            # The connection is usable and in sync after each round.
            assert await conn.execute("ECHO", "sync") == b"sync"
        assert checked > 100 and cancelled > 100
        with anyio.fail_after(10):
            while conn.pending:
                await conn.execute("PING")
        assert conn.pending == 0


async def test_cancelled_blocking_command_leaves_the_connection_in_sync(server):
    async with (
        await resp.connect(server.url) as conn,
        await resp.connect(server.url) as other,
    ):
        with anyio.move_on_after(0.05):
            await conn.execute("BLPOP", "queue", 0)
        assert conn.pending == 1  # abandoned, its reply still owed
        # The reply to the abandoned BLPOP is dropped; GET gets its own reply.
        get = asyncio.ensure_future(conn.execute("GET", "after"))
        await other.execute("SET", "after", "mine")
        await other.execute("RPUSH", "queue", "item")
        assert await get == b"mine"
        assert conn.pending == 0
        assert await other.execute("LLEN", "queue") == 0  # the BLPOP did run


async def test_pending_callers_get_connection_lost(server):
    async with await resp.connect(server.url) as admin:
        conn = await resp.connect(server.url)
        conn_id = await conn.execute("CLIENT", "ID")
        blocked = asyncio.ensure_future(conn.execute("BLPOP", "never", 0))
        batch = asyncio.ensure_future(conn.pipeline().add("PING").add("PING").execute())
        await asyncio.sleep(0.02)
        assert await admin.execute("CLIENT", "KILL", "ID", conn_id) == 1
        for waiting in (blocked, batch):
            with pytest.raises(ConnectionLostError, match="may or may not have run"):
                await waiting
        assert conn.closed
        with pytest.raises(ConnectionLostError):
            await conn.execute("PING")
        for transaction in (False, True):
            with pytest.raises(ConnectionLostError):
                await conn.pipeline(transaction=transaction).add("PING").execute()
        with pytest.raises(ConnectionLostError):
            await conn.get_message()
        await conn.aclose()


async def test_closed_connection_raises_stream_closed(server):
    conn = await resp.connect(server.url)
    blocked = asyncio.ensure_future(conn.execute("BLPOP", "never", 0))
    await asyncio.sleep(0.01)
    await conn.aclose()
    await conn.aclose()  # harmless
    with pytest.raises(StreamClosedError):
        await blocked
    with pytest.raises(StreamClosedError):
        await conn.execute("PING")
    assert "closed" in repr(conn)


async def test_server_going_away():
    with redis_server.running_redis() as doomed:
        conn = await resp.connect(doomed.url)
        blocked = asyncio.ensure_future(conn.execute("BLPOP", "never", 0))
        await asyncio.sleep(0.02)
        doomed.stop()
        with pytest.raises(ConnectionLostError):
            await blocked
        await conn.aclose()


async def test_protocol_violation_fails_callers():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        conn = await resp.connect(f"redis://127.0.0.1:{port}", protocol=2)
        peer, _ = listener.accept()
        with peer:
            call = asyncio.ensure_future(conn.execute("PING"))
            await asyncio.sleep(0.01)
            peer.sendall(b"@oops\r\n")
            with pytest.raises(ConnectionLostError, match="broke the protocol") as caught:
                await call
            assert isinstance(caught.value.__cause__, RemoteProtocolError)
        await conn.aclose()


async def test_connect_timeout():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(TimeoutError):
            await resp.connect(f"redis://127.0.0.1:{port}", connect_timeout=0.05)
        listener.accept()[0].close()


async def test_client_reconnects_after_loss(server):
    async with (
        resp.Client(server.url, client_name="pooled") as client,
        resp.Client(server.url) as admin,
    ):
        first_id, second = await asyncio.gather(
            client.execute("CLIENT", "ID"), client.execute("CLIENT", "ID")
        )
        assert first_id == second  # one shared connection
        await admin.execute("CLIENT", "KILL", "ID", first_id)
        with anyio.fail_after(10):
            while True:
                try:
                    new_id = await client.execute("CLIENT", "ID")
                except ConnectionLostError:
                    continue  # the loss was noticed by this call: the next one reconnects
                if new_id != first_id:
                    break
        assert await client.execute("CLIENT", "GETNAME") == b"pooled"
        assert await client.pipeline_execute([("SET", "p", 1), ("INCR", "p")]) == [b"OK", 2]
        assert await client.pipeline_execute([("INCR", "p")], transaction=True) == [3]


async def test_client_dedicated_connections(server):
    async with resp.Client(server.url) as client:
        shared_id = await client.execute("CLIENT", "ID")
        async with client.connection() as dedicated:
            assert await dedicated.execute("CLIENT", "ID") != shared_id
            await dedicated.execute("WATCH", "w")
            assert await dedicated.pipeline(transaction=True).add("SET", "w", 1).execute() == [
                b"OK"
            ]
        assert dedicated.closed
        async with client.pubsub() as sub:
            await sub.subscribe("c")
            await client.execute("PUBLISH", "c", "hi")
            assert (await sub.get_message()).data == b"hi"
    with pytest.raises(StreamClosedError):
        await client.execute("PING")


async def test_client_connect_failure_is_not_cached():
    port = redis_server.free_port()
    client = resp.Client(f"redis://127.0.0.1:{port}")
    for _ in range(2):
        with pytest.raises(ConnectionRefusedError):
            await client.execute("PING")
    await client.aclose()


async def test_write_backpressure_with_many_large_commands(server):
    async with await resp.connect(server.url) as conn:
        value = b"v" * (4 * 1024 * 1024)

        async def put(i, how):
            for _ in range(i):
                await asyncio.sleep(0)  # one per loop turn: earlier writes pile up
            if how:
                pipe = conn.pipeline(transaction=how == 2)
                return (await pipe.add("SET", f"big{i}", value).execute())[0]
            return await conn.execute("SET", f"big{i}", value)

        results = await asyncio.gather(*(put(i, i % 3) for i in range(9)))
        assert results == [b"OK"] * 9
        assert await conn.execute("STRLEN", "big8") == len(value)
        await conn.execute("FLUSHALL")


async def test_tls(tmp_path):

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    ca.cert_pem.write_to_path(tmp_path / "ca.pem")
    tls_port = redis_server.free_port()
    with redis_server.running_redis(
        "--tls-port",
        str(tls_port),
        "--tls-cert-file",
        str(tmp_path / "cert.pem"),
        "--tls-key-file",
        str(tmp_path / "key.pem"),
        "--tls-ca-cert-file",
        str(tmp_path / "ca.pem"),
        "--tls-auth-clients",
        "no",
    ):
        context = ssl.create_default_context()
        ca.configure_trust(context)
        url = f"rediss://localhost:{tls_port}/1"
        async with await resp.connect(url, ssl=context) as conn:
            assert await conn.execute("SET", "secure", "yes") == b"OK"
            assert await conn.execute("GET", "secure") == b"yes"
            assert conn.events.get_extra_info("ssl_object") is not None
        with pytest.raises(ssl.SSLError):
            await resp.connect(url)  # the default context does not trust our CA
