"""A real HTTP server on loopback that receives webhooks in tests: it records every request
(headers and raw body) and answers as told (status, delay, redirect, body)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Behaviour:
    status: int = 200
    delay: float = 0.0
    location: str | None = None
    body: bytes = b'{"received": true}'


@dataclass
class Receiver:
    host: str
    port: int
    behaviour: Behaviour = field(default_factory=Behaviour)
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hooks/asterai"

    def record(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _Server6(_Server):
    address_family = socket.AF_INET6


def start_receiver(host: str = "127.0.0.1") -> Receiver:
    receiver = Receiver(host=host, port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.record(Received(path=self.path, headers=dict(self.headers.items()), body=body))
            behaviour = receiver.behaviour
            if behaviour.delay:
                time.sleep(behaviour.delay)
            try:
                self.send_response(behaviour.status)
                if behaviour.location:
                    self.send_header("Location", behaviour.location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(behaviour.body)))
                self.end_headers()
                self.wfile.write(behaviour.body)
            except OSError:  # the client gave up (a timeout test)
                pass

        do_GET = do_POST  # a followed redirect would arrive as a GET

        def log_message(self, *args: object) -> None:
            pass

    server_class = _Server6 if ":" in host else _Server
    server = server_class((host, 0), Handler)
    receiver.port = server.server_address[1]
    receiver._server = server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
