"""Shared fixtures of the Azure tests (loaded by ``tests/test_azure_*.py``; not a conftest).

* ``fake_arm`` — a fresh :class:`FakeArm` (HTTPS on 127.0.0.1) per test;
* ``azurite`` — one Azurite per session (skipped when Node.js/Azurite is
  missing), with the accounts below;
* ``no_azure_env`` — removes every ``AZURE_*`` variable so no test can pick
  up a real identity;
* ``public_clouds`` — a loopback listener standing in for every non-loopback
  host (``management.azure.com``, the sovereign clouds …): it is the HTTPS
  proxy of the test, records each ``CONNECT host:port`` and refuses it, so a
  request meant for a real cloud is seen and never leaves the machine.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest
from residency.providers.azure import _accounts, configure
from residency.providers.azure._azurite import Azurite, find_azurite
from residency.providers.azure._fake_arm import FakeArm

AZURITE_ACCOUNTS = ("euacct", "usacct", "eugrsus", "ukacct", "unmapped")


@pytest.fixture(autouse=True)
def no_azure_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for k in list(os.environ):
        if k.startswith(("AZURE_", "IDENTITY_ENDPOINT", "MSI_", "IMDS_", "RESIDENCY_AZURE_")):
            monkeypatch.delenv(k)

    def no_real_identity() -> object:
        raise RuntimeError("tests never use a real Azure identity: configure an account resolver")

    monkeypatch.setattr(_accounts, "new_default_credential", no_real_identity)
    configure()
    yield
    configure()


@pytest.fixture
def fake_arm() -> Iterator[FakeArm]:
    with FakeArm(page_size=50) as arm:
        yield arm


@pytest.fixture(scope="session")
def azurite_server() -> Iterator[Azurite]:
    if find_azurite() is None:
        pytest.skip("Azurite is not installed (needs Node.js and 'npm ci' in the project folder)")
    with Azurite(AZURITE_ACCOUNTS) as server:
        yield server


class CloudListener:
    """An HTTP proxy on 127.0.0.1 that records where each tunnel was meant to go and refuses it."""

    def __init__(self) -> None:
        self.connects: list[str] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, name="cloud-listener", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                self.connects.append(line.split(" ")[1] if " " in line else line)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def public_clouds(monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudListener]:
    listener = CloudListener()
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, listener.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.delenv("all_proxy", raising=False)
    yield listener
    listener.close()
