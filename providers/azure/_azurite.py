"""Start Azurite (the Azure Storage emulator, npm package ``azurite``) on 127.0.0.1.

For tests and the demo::

    with Azurite(["euacct", "usacct"]) as azurite:
        client = BlobServiceClient(azurite.blob_url("euacct"), credential=azurite.credential("euacct"))

Azurite is always started with ``--disableTelemetry`` (without it, it tries to
reach a telemetry endpoint abroad), ``--skipApiVersionCheck`` (the SDK may be
newer than the emulator) and ``--inMemoryPersistence``, on a free loopback
port, with the accounts given in ``AZURITE_ACCOUNTS``. The executable is
looked up in ``$RESIDENCY_AZURITE``, the project's ``node_modules/.bin`` and
``PATH``; :func:`find_azurite` returns ``None`` when it is not installed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["Azurite", "find_azurite"]

#: the flags Azurite is always started with; --disableTelemetry is not optional
AZURITE_FLAGS = ("--skipApiVersionCheck", "--disableTelemetry", "--inMemoryPersistence", "--silent")


def find_azurite() -> str | None:
    """The ``azurite-blob`` executable, or ``None`` if Node.js or Azurite is missing."""
    if shutil.which("node") is None:
        return None
    env = os.environ.get("RESIDENCY_AZURITE")
    candidates = [pathlib.Path(env)] if env else []
    here = pathlib.Path(__file__).resolve()
    for parent in (pathlib.Path.cwd(), *here.parents):
        candidates.append(parent / "node_modules" / ".bin" / "azurite-blob")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return shutil.which("azurite-blob")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def account_key(account: str) -> str:
    """A deterministic base64 key for an emulator account (never a real secret)."""
    return base64.b64encode(hashlib.sha512(f"azurite:{account}".encode()).digest()).decode()


class Azurite:
    """An Azurite blob service for ``accounts``, stopped on exit."""

    def __init__(self, accounts: Iterable[str], *, executable: str | None = None, timeout: float = 30.0) -> None:
        self.accounts = [a.lower() for a in accounts]
        self.executable = executable or find_azurite()
        self.timeout = timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def command(self) -> list[str]:
        return [
            str(self.executable),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(self.port),
            *AZURITE_FLAGS,
        ]

    def start(self) -> Azurite:
        if not self.executable:
            raise RuntimeError("azurite is not installed: run 'npm ci' in the project folder (needs Node.js)")
        self._tmp = tempfile.TemporaryDirectory(prefix="azurite-")
        self.port = _free_port()
        env = dict(os.environ)
        env["AZURITE_ACCOUNTS"] = ";".join(f"{a}:{account_key(a)}" for a in self.accounts)
        self._proc = subprocess.Popen(
            self.command,
            cwd=self._tmp.name,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            rc = self._proc.poll()
            if rc is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self.stop()
                raise RuntimeError(f"azurite exited with {rc}: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"azurite did not listen on 127.0.0.1:{self.port} within {self.timeout}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stderr:
                proc.stderr.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def blob_url(self, account: str) -> str:
        """The path-style blob endpoint of ``account``."""
        return f"http://127.0.0.1:{self.port}/{account.lower()}"

    def credential(self, account: str) -> dict[str, Any]:
        """The shared-key credential of ``account`` (for ``BlobServiceClient(credential=…)``)."""
        return {"account_name": account.lower(), "account_key": account_key(account)}

    def connection_string(self, account: str) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={account.lower()};"
            f"AccountKey={account_key(account)};BlobEndpoint={self.blob_url(account)};"
        )
