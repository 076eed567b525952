import importlib.util
import socket
import sys
import threading
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "websocket_sockets.py"
spec = importlib.util.spec_from_file_location("websocket_sockets", EXAMPLE)
assert spec
assert spec.loader
example = importlib.util.module_from_spec(spec)
sys.modules["websocket_sockets"] = example
spec.loader.exec_module(example)


def test_the_client_gets_its_messages_back():
    assert example.main() == ["hello", "sockets"]


def _ask_server(request: bytes) -> bytes:
    ours, theirs = socket.socketpair()
    server = threading.Thread(target=example.serve_one, args=(theirs,))
    server.start()
    ours.sendall(request)
    answer = b""
    while data := ours.recv(65536):
        answer += data
    server.join()
    ours.close()
    return answer


def test_a_plain_get_is_a_health_check():
    answer = _ask_server(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"\r\n\r\nok\n")


def test_an_upgrade_elsewhere_than_chat_is_refused():
    request = (
        b"GET /other HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    answer = _ask_server(request)
    assert answer.startswith(b"HTTP/1.1 404 ")
    assert answer.endswith(b"no such endpoint")


def test_bad_bytes_get_the_error_response_before_the_socket_closes():
    assert _ask_server(b"NOT HTTP AT ALL\r\n\r\n").startswith(b"HTTP/1.1 400 ")
