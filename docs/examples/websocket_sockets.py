"""The WebSocket core over plain blocking sockets, with no framework.

Run it (``python docs/examples/websocket_sockets.py``): a server thread serves
one connection on a free port of 127.0.0.1, and a client asks for ``/chat``,
sends two messages, prints the echoes and closes. The core's page
(``docs/packages/websocket/index.rst``) shows ``serve_one`` and ``chat``.
"""

from __future__ import annotations

import socket
import threading

from tidewire import NEED_DATA, RemoteProtocolError
from tidewire_websocket import (
    AcceptConnection,
    ClientConnection,
    CloseConnection,
    HTTPRequest,
    PerMessageDeflate,
    RejectConnection,
    Request,
    ServerConnection,
    TextMessage,
    WebSocketClosed,
)


def serve_one(sock: socket.socket) -> None:
    """Serve one connection: accept ``/chat``, echo text messages."""
    ws = ServerConnection(max_message_size=4 * 1024 * 1024)
    try:
        while True:
            event = ws.next_event()  # may raise RemoteProtocolError
            if event is NEED_DATA:
                sock.sendall(ws.data_to_send())
                if ws.should_close_transport:
                    break
                data = sock.recv(65536)
                if data:
                    ws.receive_data(data)
                else:
                    ws.receive_eof()
            elif isinstance(event, Request):
                if event.target != "/chat":
                    ws.send(RejectConnection(404, body=b"no such endpoint"))
                else:
                    chosen = "v2" if "v2" in event.subprotocols else None
                    ws.send(AcceptConnection(chosen, extensions=(PerMessageDeflate(),)))
            elif isinstance(event, HTTPRequest):  # a health check, not a WebSocket
                ws.send(RejectConnection(200, body=b"ok\n"))
            elif isinstance(event, TextMessage):
                ws.send(TextMessage(event.data))  # echo
            elif isinstance(event, WebSocketClosed):
                break
    except RemoteProtocolError:
        pass  # the close frame or HTTP error owed to the peer is in data_to_send()
    sock.sendall(ws.data_to_send())
    sock.close()


def chat(sock: socket.socket, messages: list[str]) -> list[str]:
    """Open ``/chat`` over a connected socket, send each message, return the echoes."""
    ws = ClientConnection()
    ws.send(Request("localhost", "/chat", subprotocols=("v2",), extensions=(PerMessageDeflate(),)))
    sock.sendall(ws.data_to_send())
    echoes: list[str] = []
    while True:
        event = ws.next_event()
        if event is NEED_DATA:
            sock.sendall(ws.data_to_send())  # pongs and the close reply, too
            if ws.should_close_transport:
                break
            data = sock.recv(65536)
            if data:
                ws.receive_data(data)
            else:
                ws.receive_eof()
        elif isinstance(event, AcceptConnection):  # messages may follow in the same read
            for message in messages:
                ws.send(TextMessage(message))
        elif isinstance(event, RejectConnection):
            raise ConnectionError(f"refused: {event.status_code} {event.body!r}")
        elif isinstance(event, TextMessage):
            echoes.append(event.data)
            if len(echoes) == len(messages):
                ws.send(CloseConnection(1000))
        elif isinstance(event, WebSocketClosed):
            break
    sock.close()
    return echoes


def main() -> list[str]:
    """Serve one connection in a thread, chat with it, and return the echoes."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def accept_and_serve() -> None:
            conn, _ = listener.accept()
            serve_one(conn)

        server = threading.Thread(target=accept_and_serve)
        server.start()
        echoes = chat(socket.create_connection(("127.0.0.1", port)), ["hello", "sockets"])
        server.join()
    return echoes


if __name__ == "__main__":
    print(main())
