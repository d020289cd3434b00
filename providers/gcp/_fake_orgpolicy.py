"""A loopback fake of Cloud Resource Manager v3 and Org Policy v2, for the guardrails tests and benchmark.

Served over HTTP on 127.0.0.1 with the documented JSON shapes
(https://cloud.google.com/resource-manager/reference/rest/v3/projects,
https://cloud.google.com/resource-manager/reference/rest/v3/folders,
https://cloud.google.com/resource-manager/docs/reference/orgpolicy/rest/v2/projects.policies)::

    with FakeOrgPolicy() as fake:
        fake.add_organization("1")
        fake.add_folder("10", "organizations/1")
        fake.add_project("p1", "folders/10")
        fake.set_policy("folders/10", {"rules": [{"values": {"allowedValues": ["in:eu-locations"]}}]})

* ``GET /v3/projects/{id}`` (by project id or ``projects/{number}``),
  ``GET /v3/folders/{id}``, ``GET /v3/organizations/{id}``;
  ``GET /v3/projects:search`` (``pageSize``/``pageToken`` paging);
* ``GET /v2/{parent}/policies/{constraint}`` (404 ``NOT_FOUND`` when none is
  set), ``GET /v2/{parent}/policies`` (paged), ``POST /v2/{parent}/policies``
  (create; 409 if it exists), ``PATCH /v2/{name}`` (replace), ``DELETE``.

``fail`` maps a path fragment to an HTTP status (403 ``PERMISSION_DENIED`` …);
``requests`` records every request. Nothing here leaves loopback.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from residency._net import LoopbackFake

__all__ = ["FakeOrgPolicy"]

_STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}


class FakeOrgPolicy(LoopbackFake):
    """An in-process Resource Manager + Org Policy server on 127.0.0.1."""

    thread_name = "fake-orgpolicy"

    def __init__(self, *, page_size: int = 100) -> None:
        self.page_size = page_size
        self.nodes: dict[str, dict[str, Any]] = {}  # "folders/10" → resource
        self.project_ids: dict[str, str] = {}  # project id → "projects/{number}"
        self.policies: dict[str, dict[str, Any]] = {}  # "folders/10" → Policy (constraint gcp.resourceLocations …)
        self.fail: dict[str, int] = {}
        #: seconds to wait before each answer (simulated API latency for benchmarks)
        self.latency = 0.0
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ world

    def add_organization(self, org_id: str) -> str:
        name = f"organizations/{org_id}"
        self.nodes[name] = {
            "name": name,
            "displayName": f"org {org_id}",
            "state": "ACTIVE",
            "directoryCustomerId": "C0",
        }
        return name

    def add_folder(self, folder_id: str, parent: str) -> str:
        name = f"folders/{folder_id}"
        self.nodes[name] = {"name": name, "parent": parent, "displayName": f"folder {folder_id}", "state": "ACTIVE"}
        return name

    def add_project(self, project_id: str, parent: str, *, state: str = "ACTIVE") -> str:
        number = str(100000 + len(self.project_ids))
        name = f"projects/{number}"
        self.project_ids[project_id] = name
        self.nodes[name] = {
            "name": name,
            "parent": parent,
            "projectId": project_id,
            "state": state,
            "displayName": project_id,
        }
        return name

    def set_policy(
        self,
        node: str,
        spec: Mapping[str, Any] | None,
        *,
        constraint: str = "gcp.resourceLocations",
        dry_run: Mapping[str, Any] | None = None,
    ) -> None:
        """Set (or with ``spec=None`` and no ``dry_run``, remove) a node's policy for ``constraint``."""
        node = self._canonical(node)
        key = f"{node}/policies/{constraint}"
        if spec is None and dry_run is None:
            self.policies.pop(key, None)
            return
        policy: dict[str, Any] = {"name": key}
        if spec is not None:
            policy["spec"] = {"etag": "CAE=", "updateTime": "2026-12-01T00:00:00Z", **dict(spec)}
        if dry_run is not None:
            policy["dryRunSpec"] = dict(dry_run)
        self.policies[key] = policy

    def _canonical(self, node: str) -> str:
        if node.startswith("projects/") and node[9:] in self.project_ids:
            return self.project_ids[node[9:]]
        return node

    # ------------------------------------------------------------------ routing

    def handle(self, method: str, path: str, query: Mapping[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path))
        if self.latency:
            time.sleep(self.latency)
        for fragment, status in self.fail.items():
            if fragment in path:
                return _error(status, f"injected failure for {path}")
        if path.startswith("/v3/"):
            return self._crm(method, path[4:], query)
        if path.startswith("/v2/"):
            return self._orgpolicy(method, path[4:], query, body)
        return _error(404, f"no such API: {path}")

    def _crm(self, method: str, rest: str, query: Mapping[str, str]) -> tuple[int, Any]:
        if method != "GET":
            return _error(400, "read-only fake")
        if rest == "projects:search":
            items = [self.nodes[n] for n in self.project_ids.values()]
            return 200, self._page(items, "projects", query)
        name = self._canonical(rest)
        node = self.nodes.get(name)
        if node is None:
            return _error(403, f"Permission denied on resource '{rest}' (or it may not exist).")
        return 200, node

    def _orgpolicy(self, method: str, rest: str, query: Mapping[str, str], body: Any) -> tuple[int, Any]:
        parent, sep, tail = rest.partition("/policies")
        parent = self._canonical(parent)
        if parent not in self.nodes:
            return _error(403, f"Permission denied on resource '{parent}' (or it may not exist).")
        if not sep:
            return _error(404, f"no such path {rest}")
        if tail == "" and method == "GET":
            items = [p for k, p in sorted(self.policies.items()) if k.startswith(parent + "/policies/")]
            return 200, self._page(items, "policies", query)
        if tail == "" and method == "POST":
            if not isinstance(body, Mapping) or "name" not in body:
                return _error(400, "policy.name is required")
            constraint = str(body["name"]).rsplit("/", 1)[-1]
            if f"{parent}/policies/{constraint}" in self.policies:
                return _error(409, f"policy {constraint} already exists on {parent}")
            self.set_policy(parent, body.get("spec"), constraint=constraint, dry_run=body.get("dryRunSpec"))
            return 200, self.policies[f"{parent}/policies/{constraint}"]
        constraint = tail.lstrip("/")
        key = f"{parent}/policies/{constraint}"
        if method == "GET":
            got = self.policies.get(key)
            return (200, got) if got else _error(404, f"Requested entity was not found: {key}")
        if method == "PATCH":
            spec = body.get("spec") if isinstance(body, Mapping) else None
            self.set_policy(
                parent,
                spec,
                constraint=constraint,
                dry_run=body.get("dryRunSpec") if isinstance(body, Mapping) else None,
            )
            return 200, self.policies.get(key, {})
        if method == "DELETE":
            self.policies.pop(key, None)
            return 200, {}
        return _error(400, f"unsupported {method}")

    def _page(self, items: list[dict[str, Any]], key: str, query: Mapping[str, str]) -> dict[str, Any]:
        size = int(query.get("pageSize") or self.page_size)
        start = int(query.get("pageToken") or 0)
        out: dict[str, Any] = {key: items[start : start + size]}
        if start + size < len(items):
            out["nextPageToken"] = str(start + size)
        return out


def _error(status: int, message: str) -> tuple[int, Any]:
    return status, {"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOrgPolicy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        status, payload = self.owner.handle(self.command, unquote(parts.path), query, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve


FakeOrgPolicy.handler = _Handler
