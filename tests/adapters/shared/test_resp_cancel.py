"""Cancellation, automatic pipelining, connection loss and reconnection, on a real server."""

from __future__ import annotations

import socket
import ssl

import anyio
import pytest
import redis_server  # loaded by conftest.py
import trustme
from adapter_under_test import adapter

from tidewire import RemoteProtocolError

ConnectionLostError, StreamClosedError, resp = (
    adapter.ConnectionLostError,
    adapter.StreamClosedError,
    adapter.resp,
)

pytestmark = pytest.mark.anyio


async def gather(*calls):
    """Run the calls concurrently; return their results in order."""
    results = [None] * len(calls)

    async def run(index, call):
        results[index] = await call()

    async with anyio.create_task_group() as tg:
        for index, call in enumerate(calls):
            tg.start_soon(run, index, call)
    return results


class Outcome:
    """What a call started in a task group came to, awaited later."""

    def __init__(self):
        self.done = anyio.Event()
        self.value = self.error = None

    async def get(self):
        await self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


def spawn(tg, call):
    outcome = Outcome()

    async def run():
        try:
            outcome.value = await call()
        except Exception as error:
            outcome.error = error
        finally:
            outcome.done.set()

    tg.start_soon(run)
    return outcome


async def test_concurrent_callers_share_one_connection(server):
    async with resp.connect(server.url) as conn:
        await conn.execute("SET", "shared", "v")

        async def call(i):
            return await conn.execute("ECHO", f"token-{i}")

        results = await gather(*(lambda i=i: call(i) for i in range(2000)))
        assert results == [f"token-{i}".encode() for i in range(2000)]
        clients = await conn.execute("CLIENT", "LIST", decode=True)
        assert clients.count("\n") == 1  # one connection did it all
        assert conn.pending == 0


async def test_cancelled_blocking_command_leaves_the_connection_in_sync(server):
    async with (
        resp.connect(server.url) as conn,
        resp.connect(server.url) as other,
    ):
        with anyio.move_on_after(0.05):
            await conn.execute("BLPOP", "queue", 0)
        assert conn.pending == 1  # abandoned, its reply still owed
        # The reply to the abandoned BLPOP is dropped; GET gets its own reply.
        async with anyio.create_task_group() as tg:
            get = spawn(tg, lambda: conn.execute("GET", "after"))
            await other.execute("SET", "after", "mine")
            await other.execute("RPUSH", "queue", "item")
            assert await get.get() == b"mine"
        assert conn.pending == 0
        assert await other.execute("LLEN", "queue") == 0  # the BLPOP did run


async def test_pending_callers_get_connection_lost(tools, server):
    async with resp.connect(server.url) as admin, resp.connect(server.url) as conn:
        conn_id = await conn.execute("CLIENT", "ID")
        async with anyio.create_task_group() as tg:
            blocked = spawn(tg, lambda: conn.execute("BLPOP", "never", 0))
            # The BLPOP first (trio runs the tasks started together in any order).
            await tools.eventually(lambda: conn.pending == 1)
            batch = spawn(tg, lambda: conn.pipeline().add("PING").add("PING").execute())
            await tools.eventually(lambda: conn.pending == 2)  # BLPOP, the batch
            assert await admin.execute("CLIENT", "KILL", "ID", conn_id) == 1
            for waiting in (blocked, batch):
                with pytest.raises(ConnectionLostError, match="may or may not have run"):
                    await waiting.get()
        assert conn.closed
        with pytest.raises(ConnectionLostError):
            await conn.execute("PING")
        for transaction in (False, True):
            with pytest.raises(ConnectionLostError):
                await conn.pipeline(transaction=transaction).add("PING").execute()
        with pytest.raises(ConnectionLostError):
            await conn.get_message()
        await conn.aclose()


async def test_closed_connection_raises_stream_closed(tools, server):
    async with resp.connect(server.url) as conn:
        async with anyio.create_task_group() as tg:
            blocked = spawn(tg, lambda: conn.execute("BLPOP", "never", 0))
            await tools.eventually(lambda: conn.pending == 1)
            await conn.aclose()
            await conn.aclose()  # harmless
            with pytest.raises(StreamClosedError):
                await blocked.get()
        with pytest.raises(StreamClosedError):
            await conn.execute("PING")
        assert "closed" in repr(conn)


async def test_server_going_away(tools):
    with redis_server.running_redis() as doomed:
        async with resp.connect(doomed.url) as conn, anyio.create_task_group() as tg:
            blocked = spawn(tg, lambda: conn.execute("BLPOP", "never", 0))
            await tools.eventually(lambda: conn.pending == 1)
            doomed.stop()
            with pytest.raises(ConnectionLostError):
                await blocked.get()


async def test_protocol_violation_fails_callers(tools):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        async with resp.connect(f"redis://127.0.0.1:{port}", protocol=2) as conn:
            peer, _ = listener.accept()
            with peer, anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    call = spawn(tg, lambda: conn.execute("PING"))
                    await tools.eventually(lambda: conn.pending == 1)
                    peer.sendall(b"@oops\r\n")
                    with pytest.raises(ConnectionLostError, match="broke the protocol") as caught:
                        await call.get()
                assert isinstance(caught.value.__cause__, RemoteProtocolError)


async def test_connect_timeout():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(TimeoutError):
            async with resp.connect(f"redis://127.0.0.1:{port}", connect_timeout=0.05):
                pass
        listener.accept()[0].close()


async def test_client_reconnects_after_loss(server):
    async with (
        resp.Client(server.url, client_name="pooled") as client,
        resp.Client(server.url) as admin,
    ):
        first_id, second = await gather(
            lambda: client.execute("CLIENT", "ID"), lambda: client.execute("CLIENT", "ID")
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
    async with resp.Client(f"redis://127.0.0.1:{port}") as client:
        for _ in range(2):
            with pytest.raises(ConnectionRefusedError):
                await client.execute("PING")


async def test_write_backpressure_with_many_large_commands(server):
    async with resp.connect(server.url) as conn:
        value = b"v" * (4 * 1024 * 1024)

        async def put(i, how):
            for _ in range(i):
                await anyio.sleep(0)  # one per loop turn: earlier writes pile up
            if how:
                pipe = conn.pipeline(transaction=how == 2)
                return (await pipe.add("SET", f"big{i}", value).execute())[0]
            return await conn.execute("SET", f"big{i}", value)

        results = await gather(*(lambda i=i: put(i, i % 3) for i in range(9)))
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
        async with resp.connect(url, ssl=context) as conn:
            assert await conn.execute("SET", "secure", "yes") == b"OK"
            assert await conn.execute("GET", "secure") == b"yes"
            assert conn.events.get_extra_info("ssl_object") is not None
        with pytest.raises(ssl.SSLError):
            async with resp.connect(url):  # the default context does not trust our CA
                pass


async def test_a_reply_cut_short_by_the_server_says_so():
    """What Redis does to a client past its client-output-buffer-limit: close mid-reply."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        async with resp.connect(f"redis://127.0.0.1:{port}", protocol=2) as conn:
            peer, _ = listener.accept()
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    call = spawn(tg, lambda: conn.execute("GET", "big"))
                    assert b"GET" in await anyio.to_thread.run_sync(peer.recv, 65536)
                    peer.sendall(b"$100\r\nonly part")
                    peer.close()  # all read: a clean end of stream, not a reset
                    with pytest.raises(ConnectionLostError, match="in the middle of a reply"):
                        await call.get()


async def test_connect_is_also_an_async_context_manager(server):
    async with resp.connect(server.url, client_name="cm") as conn:
        assert await conn.execute("CLIENT", "GETNAME") == b"cm"
    assert conn.closed
    async with resp.Client(server.url).connection() as dedicated:
        assert await dedicated.execute("PING") == b"PONG"
    assert dedicated.closed


async def test_closing_a_client_ends_the_connecting_it_owns():
    """aclose() while the shared connection is being opened cancels that task and waits for it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts, never answers
        port = listener.getsockname()[1]
        async with resp.Client(f"redis://127.0.0.1:{port}") as client:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    call = spawn(tg, lambda: client.execute("PING"))
                    await anyio.sleep(0.05)  # the opening task is waiting for the set-up's replies
                    await client.aclose()
                    with pytest.raises((StreamClosedError, anyio.get_cancelled_exc_class())):
                        await call.get()
            with pytest.raises(StreamClosedError):
                await client.execute("PING")
