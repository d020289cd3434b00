"""Scan history in an embedded SQLite database.

Every ``residency scan`` is recorded (unless ``--no-history``) so the next
report can say which violations are **new** and which were **resolved** since
the previous scan of the same scope (same provider, policy, accounts, regions
and services — :attr:`residency._scan.Scope.key`).

Where the database lives: ``--history PATH``, else ``$RESIDENCY_HISTORY``, else
``.residency/history.sqlite`` in the current directory.

Only non-compliant findings (violations, unknowns, waived) are stored per scan;
compliant resources are counted. ``residency history`` lists past scans.

A violation of the previous scan that is not a violation now is **resolved**
only if this scan could read where it was: when this scan has an ``unknown``
finding in the same account and region (an AssumeRole that failed, a region or
service that answered AccessDenied, the resource itself unreadable), it is
listed as **unverified** instead — a gap in the scan never reads as a fix.

A database another process is writing to is waited for (``timeout`` seconds,
``--history-timeout``; default 30) before the scan gives up on it, and the
error then says it is **busy**; a read-only one says **read-only**. The CLI
writes the report before it records history, so a history failure never loses
the report (it then exits 2 with one line).

>>> h = History(":memory:")
>>> h.scans()
[]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._errors import HistoryError
from ._findings import Finding

__all__ = ["Diff", "History", "HistoryError", "ScanRecord", "default_history_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scope_key TEXT NOT NULL,
    scope TEXT NOT NULL,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    counts TEXT NOT NULL,
    exit_code INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_scope ON scans (scope_key, id);
CREATE TABLE IF NOT EXISTS findings (
    scan_id INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    status TEXT NOT NULL,
    account TEXT NOT NULL,
    service TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    locations TEXT NOT NULL,
    reason TEXT NOT NULL,
    region TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (scan_id, key)
);
"""

#: seconds to wait for a database another process holds locked
DEFAULT_TIMEOUT = 30.0

_COLUMNS = ("key", "account", "service", "resource_type", "resource_id", "locations", "reason")


def default_history_path() -> pathlib.Path:
    """``$RESIDENCY_HISTORY`` or ``.residency/history.sqlite`` under the current directory."""
    env = os.environ.get("RESIDENCY_HISTORY")
    return pathlib.Path(env) if env else pathlib.Path(".residency") / "history.sqlite"


@attrs.frozen
class ScanRecord:
    """One past scan."""

    id: int
    scope_key: str
    scope: Mapping[str, Any]
    started: str
    finished: str
    counts: Mapping[str, int]
    exit_code: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": dict(self.scope),
            "started": self.started,
            "finished": self.finished,
            "counts": dict(self.counts),
            "exit_code": self.exit_code,
        }


@attrs.frozen
class Diff:
    """Violations new and resolved since ``previous`` (``None``: first scan of this scope).

    ``unverified`` are the previous violations this scan no longer reports but could
    not confirm as fixed (an ``unknown`` finding covers their account and region).
    """

    previous: ScanRecord | None
    new: frozenset[str]
    resolved: tuple[Mapping[str, Any], ...]
    unverified: tuple[Mapping[str, Any], ...] = ()


def _problem(path: str, doing: str, exc: sqlite3.Error, timeout: float) -> HistoryError:
    """One line saying what is wrong with the database, and what to do: busy, read-only or broken."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return HistoryError(
            f"history database {path} is busy (another process holds it locked; waited {timeout:g} s) "
            f"while {doing}: wait longer with --history-timeout SECONDS, or use --no-history"
        )
    if "readonly" in text or "read-only" in text:
        return HistoryError(
            f"history database {path} is read-only ({text}) while {doing}: make it writable, "
            "or use --history PATH elsewhere, or --no-history"
        )
    return HistoryError(f"history database {path}: {text} while {doing}")


class History:
    """The scan history database (created on first use).

    ``timeout``: seconds to wait for a database another process holds locked.
    ``create=False`` opens only a database that exists (listing never creates one).
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT, create: bool = True) -> None:
        self.path = str(path)
        self.timeout = timeout
        if not create and self.path != ":memory:" and not pathlib.Path(self.path).is_file():
            raise HistoryError(
                f"no history database at {self.path} (scans record one there unless --no-history; "
                "check --history PATH or $RESIDENCY_HISTORY)"
            )
        try:
            if self.path != ":memory:":
                target = pathlib.Path(self.path)
                if target.is_dir():
                    raise HistoryError(f"history database {self.path} is a directory, not a file")
                target.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=timeout)
        except OSError as exc:
            raise HistoryError(f"cannot open the history database {self.path}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot open the history database {self.path}: {exc}") from None
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(_SCHEMA)
            cols = {r[1] for r in self._db.execute("PRAGMA table_info(findings)")}
            if "region" not in cols:  # databases written before the column existed
                self._db.execute("ALTER TABLE findings ADD COLUMN region TEXT NOT NULL DEFAULT ''")
                self._db.commit()
        except sqlite3.OperationalError as exc:
            self._db.close()
            if any(w in str(exc) for w in ("locked", "busy", "readonly")):
                raise _problem(self.path, "opening it", exc, timeout) from None
            raise HistoryError(f"{self.path} is not a usable history database: {exc}") from None
        except sqlite3.Error as exc:
            self._db.close()
            raise HistoryError(f"{self.path} is not a usable history database: {exc}") from None

    @staticmethod
    def check(path: str | os.PathLike[str]) -> None:
        """Fail now, without opening a connection, when ``path`` can never be a history database.

        A directory, a folder that cannot be created, or a file that is not SQLite:
        :class:`HistoryError`. A database that is busy or read-only passes (the
        scan runs, its report is written, then recording it fails).
        """
        target = pathlib.Path(path)
        if str(path) == ":memory:":
            return
        if target.is_dir():
            raise HistoryError(f"history database {target} is a directory, not a file")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_file():
                with target.open("rb") as f:
                    head = f.read(16)
                if head and head != b"SQLite format 3\x00":
                    raise HistoryError(f"{target} is not a usable history database: file is not a database")
        except OSError as exc:
            raise HistoryError(f"cannot open the history database {target}: {exc.strerror or exc}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _record(row: tuple[Any, ...]) -> ScanRecord:
        return ScanRecord(row[0], row[1], json.loads(row[2]), row[3], row[4], json.loads(row[5]), row[6])

    def scans(self, *, scope_key: str | None = None, limit: int = 50) -> list[ScanRecord]:
        """Past scans, newest first."""
        sql = "SELECT id, scope_key, scope, started, finished, counts, exit_code FROM scans"
        args: tuple[Any, ...] = ()
        if scope_key is not None:
            sql += " WHERE scope_key = ?"
            args = (scope_key,)
        sql += " ORDER BY id DESC LIMIT ?"
        try:
            return [self._record(r) for r in self._db.execute(sql, (*args, limit))]
        except sqlite3.Error as exc:
            raise _problem(self.path, "reading it", exc, self.timeout) from None

    def latest(self, scope_key: str) -> ScanRecord | None:
        found = self.scans(scope_key=scope_key, limit=1)
        return found[0] if found else None

    def record(
        self,
        *,
        scope_key: str,
        scope: Mapping[str, Any],
        started: dt.datetime,
        finished: dt.datetime,
        counts: Mapping[str, int],
        exit_code: int,
        findings: Iterable[Finding],
    ) -> tuple[int, Diff]:
        """Store a scan and its non-compliant findings; return its id and the diff to the previous scan."""
        previous = self.latest(scope_key)
        try:
            with self._db:
                cur = self._db.execute(
                    "INSERT INTO scans (scope_key, scope, started, finished, counts, exit_code) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        scope_key,
                        json.dumps(dict(scope), sort_keys=True),
                        started.isoformat(),
                        finished.isoformat(),
                        json.dumps(dict(counts), sort_keys=True),
                        exit_code,
                    ),
                )
                scan_id = int(cur.lastrowid or 0)
                self._db.executemany(
                    "INSERT OR REPLACE INTO findings (scan_id, key, status, account, service, resource_type, "
                    "resource_id, locations, reason, region) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        (
                            scan_id,
                            f.key,
                            f.status,
                            f.account,
                            f.service,
                            f.resource_type,
                            f.resource_id,
                            ",".join(loc.code for loc in f.locations),
                            f.reason,
                            f.region,
                        )
                        for f in findings
                        if f.status != "compliant"
                    ),
                )
            return scan_id, self.diff(scan_id, previous)
        except sqlite3.Error as exc:
            raise _problem(self.path, "recording the scan", exc, self.timeout) from None

    def diff(self, scan_id: int, previous: ScanRecord | None) -> Diff:
        """New violations of ``scan_id`` and those of ``previous`` that are gone (resolved or unverified)."""
        if previous is None:
            return Diff(None, frozenset(), ())
        new = frozenset(
            r[0]
            for r in self._db.execute(
                "SELECT key FROM findings WHERE scan_id = ? AND status = 'violation' AND key NOT IN "
                "(SELECT key FROM findings WHERE scan_id = ? AND status = 'violation')",
                (scan_id, previous.id),
            )
        )
        cols = ", ".join(f"p.{c}" for c in _COLUMNS)
        # an unknown finding now in the same account and region means the scan could not see the fix
        covered = (
            "EXISTS (SELECT 1 FROM findings u WHERE u.scan_id = ? AND u.status = 'unknown' "
            "AND u.account = p.account AND (u.region = '' OR p.region = '' OR u.region = p.region))"
        )
        gone: list[tuple[Mapping[str, Any], bool]] = [
            (dict(zip(_COLUMNS, r[:-1], strict=True)), bool(r[-1]))
            for r in self._db.execute(
                f"SELECT {cols}, {covered} FROM findings p WHERE p.scan_id = ? AND p.status = 'violation' "
                "AND p.key NOT IN (SELECT key FROM findings WHERE scan_id = ? AND status = 'violation') "
                "ORDER BY p.key",
                (scan_id, previous.id, scan_id),
            )
        ]
        return Diff(
            previous,
            new,
            tuple(r for r, unverified in gone if not unverified),
            tuple(r for r, unverified in gone if unverified),
        )
