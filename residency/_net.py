"""Network names the providers' guards and scans share (no cloud SDK here)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, TypeVar

__all__ = ["LoopbackFake", "LoopbackHTTP", "is_loopback"]


class LoopbackHTTP:
    """An HTTP server on 127.0.0.1 (a free port) answering from a daemon thread: the loopback fakes' lifecycle.

    >>> from http.server import BaseHTTPRequestHandler
    >>> srv = LoopbackHTTP(BaseHTTPRequestHandler, name="doc")
    >>> srv.url.startswith("http://127.0.0.1:")
    True
    >>> srv.close()
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, name: str, poll_interval: float = 0.05) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(poll_interval,), daemon=True, name=name).start()

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()


def is_loopback(host: str) -> bool:
    """This machine: ``localhost`` names, loopback and unspecified addresses in any spelling.

    >>> [is_loopback(h) for h in ("127.0.0.1", "[::1]", "127.1", "2130706433", "app.localhost", "10.0.0.1")]
    [True, True, True, True, True, False]
    """
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:  # the forms the resolver also accepts: 127.1, 2130706433, 0x7f.1
            ip = ipaddress.ip_address(socket.inet_ntoa(socket.inet_aton(host)))
        except (OSError, ValueError):
            return False
    return ip.is_loopback or ip.is_unspecified


_Fake = TypeVar("_Fake", bound="LoopbackFake")


class LoopbackFake:
    """The lifecycle the loopback API fakes share: ``start``/``stop`` and ``with fake: ...``.

    A subclass names its request handler class (``handler``, which finds the fake
    as ``self.owner``) and a thread name; ``url`` is set once it serves.
    """

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "fake"
    _server: LoopbackHTTP | None = None
    url: str = ""

    def start(self: _Fake) -> _Fake:
        bound = type("Handler", (self.handler,), {"owner": self})
        self._server = LoopbackHTTP(bound, name=self.thread_name)
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self: _Fake) -> _Fake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
