"""Scan history in an embedded SQLite database.

Every ``residency scan`` is recorded (unless ``--no-history``) so the next
report can say which violations are **new** and which were **resolved** since
the previous scan of the same scope (same provider, policy, accounts, regions
and services — :attr:`residency._scan.Scope.key`).

Where the database lives: ``--history PATH``, else ``$RESIDENCY_HISTORY``, else
``.residency/history.sqlite`` in the current directory.

Only non-compliant findings (violations, unknowns, waived) are stored per scan;
compliant resources are counted. ``residency history`` lists past scans.

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

from ._findings import Finding

__all__ = ["Diff", "History", "ScanRecord", "default_history_path"]

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
    PRIMARY KEY (scan_id, key)
);
"""


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
    """Violations new and resolved since ``previous`` (``None``: first scan of this scope)."""

    previous: ScanRecord | None
    new: frozenset[str]
    resolved: tuple[Mapping[str, Any], ...]


class History:
    """The scan history database (created on first use)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            pathlib.Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(_SCHEMA)

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
        return [self._record(r) for r in self._db.execute(sql, (*args, limit))]

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
        with self._db:
            cur = self._db.execute(
                "INSERT INTO scans (scope_key, scope, started, finished, counts, exit_code) VALUES (?, ?, ?, ?, ?, ?)",
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
                "INSERT OR REPLACE INTO findings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    )
                    for f in findings
                    if f.status != "compliant"
                ),
            )
        return scan_id, self.diff(scan_id, previous)

    def diff(self, scan_id: int, previous: ScanRecord | None) -> Diff:
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
        cols = ("key", "account", "service", "resource_type", "resource_id", "locations", "reason")
        resolved = tuple(
            dict(zip(cols, r, strict=True))
            for r in self._db.execute(
                f"SELECT {', '.join(cols)} FROM findings WHERE scan_id = ? AND status = 'violation' AND key NOT IN "
                "(SELECT key FROM findings WHERE scan_id = ? AND status = 'violation') ORDER BY key",
                (previous.id, scan_id),
            )
        )
        return Diff(previous, new, resolved)
