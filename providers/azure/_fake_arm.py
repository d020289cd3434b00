"""A loopback fake of Azure Resource Manager, for tests, the demo and benchmarks.

Azure Resource Manager has no emulator. :class:`FakeArm` serves the real API's
JSON shapes over HTTPS on 127.0.0.1 (a throw-away CA is generated, so the real
SDK clients run unmodified with ``connection_verify=fake.ca_file``) and
records every request it receives::

    with FakeArm() as arm:
        sub = arm.add_subscription("11111111-…")
        arm.add_resource_group(sub, "rg-eu", "westeurope")
        arm.add_storage_account(sub, "rg-eu", "euacct", "westeurope", sku="Standard_GRS")
        client = ResourceManagementClient(arm.credential, sub, **arm.client_kwargs())

Served: subscriptions (list and by id), resource groups, generic resources
(``nextLink`` paging, ``page_size`` per page), resources by id, child
collections (``…/replications``, ``…/failoverGroups``, ``…/replicationLinks``,
``…/objectReplicationPolicies``), storage accounts by type with
``primaryLocation``/``secondaryLocation``, Resource Graph queries
(``$skipToken`` paging; every row of the requested subscriptions the identity
can read, the query text is not interpreted beyond ``ResourceContainers``),
the tenant's data boundary, management groups and Azure Policy
(:mod:`._fake_policy`), ``PUT`` (201 created / 200 updated), ``PATCH``
(merged), ``DELETE`` and ``POST /batch`` (each request routed on its own),
stored so a test can see what arrived. Like ARM, every request needs an
``api-version`` (400 ``MissingApiVersionParameter`` otherwise); ``fail``
injects errors (``AuthorizationFailed`` …) by path fragment, and
``hidden_from_graph`` leaves subscriptions out of Resource Graph answers the
way ARG silently omits subscriptions the identity cannot read. Nothing here
contacts a network beyond loopback.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs

from residency._scan import ScanContext, make_context

from ._fake_policy import PolicyStore

__all__ = ["AsyncFakeCredential", "FakeArm", "FakeCredential", "RecordedRequest"]

ARM_SCOPE = "https://management.azure.com/.default"


class FakeCredential:
    """A token credential that never talks to Entra ID."""

    def __init__(self, token: str = "fake-token") -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        self.calls += 1
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


class AsyncFakeCredential:
    """The async twin of :class:`FakeCredential` (for ``.aio`` clients)."""

    def __init__(self, token: str = "fake-token") -> None:
        self.token = token
        self.calls = 0

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aenter__(self) -> AsyncFakeCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass


@attrs.frozen
class RecordedRequest:
    method: str
    path: str
    query: Mapping[str, str]
    body: Any


def _make_tls(directory: str) -> tuple[str, str, str]:
    """A CA and a 127.0.0.1/localhost server certificate signed by it (PEM paths)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "eu-residency fake ARM CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = os.path.join(directory, "ca.pem")
    cert_file = os.path.join(directory, "server.pem")
    key_file = os.path.join(directory, "server.key")
    with open(ca_file, "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return ca_file, cert_file, key_file


def _type_of(resource_id: str) -> str:
    """``Microsoft.Storage/storageAccounts/objectReplicationPolicies`` from an id."""
    _, _, rest = resource_id.partition("/providers/")
    segs = rest.split("/")
    return "/".join([segs[0], *segs[1::2]]) if segs and segs[0] else ""


class FakeArm(PolicyStore):
    """An in-process HTTPS server that answers like Azure Resource Manager (and Azure Policy: :mod:`._fake_policy`)."""

    def __init__(self, *, page_size: int = 100, data_boundary: str = "EU", tenant_id: str | None = None) -> None:
        self.page_size = page_size
        self.data_boundary = data_boundary
        self.tenant_id = tenant_id or str(uuid.UUID(int=0xE0))
        self.credential = FakeCredential()
        self.requests: list[RecordedRequest] = []
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.resource_groups: dict[str, dict[str, Any]] = {}
        self.resources: dict[str, dict[str, Any]] = {}
        self._listed: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file = ""
        self.url = ""
        #: seconds to wait before each answer (simulates ARM latency in benchmarks)
        self.latency = 0.0
        #: path fragment (lower case) -> (status, error code): answer those requests with an error
        self.fail: dict[str, tuple[int, str]] = {}
        #: subscriptions (lower case) Resource Graph leaves out, as it does those it may not read
        self.hidden_from_graph: set[str] = set()
        #: the most requests ever being answered at the same time
        self.max_in_flight = 0
        self._in_flight = 0
        self._init_policy()

    # ------------------------------------------------------------------ world

    def add_subscription(self, subscription_id: str, name: str | None = None) -> str:
        self.subscriptions[subscription_id.lower()] = {
            "id": f"/subscriptions/{subscription_id}",
            "subscriptionId": subscription_id,
            "displayName": name or f"subscription {subscription_id[:8]}",
            "state": "Enabled",
            "tenantId": self.tenant_id,
            "authorizationSource": "RoleBased",
        }
        return subscription_id

    def add_resource_group(
        self, subscription_id: str, name: str, location: str, tags: Mapping[str, str] | None = None
    ) -> str:
        rid = f"/subscriptions/{subscription_id}/resourceGroups/{name}"
        self.resource_groups[rid.lower()] = {
            "id": rid,
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "tags": dict(tags or {}),
            "properties": {"provisioningState": "Succeeded"},
        }
        return rid

    def add_resource(
        self,
        subscription_id: str,
        resource_group: str,
        rtype: str,
        name: str,
        location: str | None,
        *,
        sku: Mapping[str, Any] | None = None,
        kind: str | None = None,
        properties: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        listed: bool = True,
    ) -> str:
        ns, _, types = rtype.partition("/")
        rid = f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/{ns}"
        names = name.split("/")
        for t, n in zip(types.split("/"), names, strict=True):
            rid += f"/{t}/{n}"
        return self._put(rid, rtype, names[-1], location, sku, kind, properties, tags, listed)

    def add_child(
        self,
        parent_id: str,
        child_type: str,
        name: str,
        location: str | None = None,
        *,
        properties: Mapping[str, Any] | None = None,
    ) -> str:
        rid = f"{parent_id}/{child_type}/{name}"
        return self._put(rid, _type_of(rid), name, location, None, None, properties, None, False)

    def _put(
        self,
        rid: str,
        rtype: str,
        name: str,
        location: str | None,
        sku: Mapping[str, Any] | None,
        kind: str | None,
        properties: Mapping[str, Any] | None,
        tags: Mapping[str, str] | None,
        listed: bool,
    ) -> str:
        res: dict[str, Any] = {"id": rid, "name": name, "type": rtype}
        if location is not None:
            res["location"] = location
        if sku is not None:
            res["sku"] = dict(sku)
        if kind is not None:
            res["kind"] = kind
        res["tags"] = dict(tags or {})
        res["properties"] = dict(properties or {})
        with self._lock:
            self.resources[rid.lower()] = res
            if listed:
                self._listed.add(rid.lower())
        return rid

    def add_storage_account(
        self,
        subscription_id: str,
        resource_group: str,
        name: str,
        location: str,
        *,
        sku: str = "Standard_LRS",
        secondary: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """A storage account; ``secondary`` is reported as ``secondaryLocation`` (GRS)."""
        props: dict[str, Any] = {
            "primaryLocation": location,
            "statusOfPrimary": "available",
            "provisioningState": "Succeeded",
            "primaryEndpoints": {"blob": f"https://{name}.blob.core.windows.net/"},
        }
        if secondary:
            props["secondaryLocation"] = secondary
            props["statusOfSecondary"] = "available"
        return self.add_resource(
            subscription_id,
            resource_group,
            "Microsoft.Storage/storageAccounts",
            name,
            location,
            sku={"name": sku, "tier": "Standard"},
            kind="StorageV2",
            properties=props,
            tags=tags,
        )

    # ------------------------------------------------------------------ server

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments that point a management client at this fake."""
        return {"base_url": self.url, "connection_verify": self.ca_file, "credential_scopes": [ARM_SCOPE]}

    def scan_context(self, policy: Any = "eu", **options: Any) -> ScanContext:
        """A scan (or guardrails) context whose clients talk to this fake with its credential."""
        kwargs = self.client_kwargs()
        endpoint = kwargs.pop("base_url")
        return make_context(
            "azure", policy, session=self.credential, endpoint_url=endpoint, client_kwargs=kwargs, **options
        )

    def start(self) -> FakeArm:
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-arm-")
        self.ca_file, cert, key = _make_tls(self._tmp.name)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        fake = self

        class Handler(_Handler):
            arm = fake

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.url = f"https://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-arm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> FakeArm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def writes(self) -> list[RecordedRequest]:
        """Every request that could have changed something (not GET/HEAD, not queries)."""
        return [
            r
            for r in self.requests
            if r.method not in ("GET", "HEAD")
            and "microsoft.resourcegraph" not in r.path.lower()
            and not r.path.lower().endswith("/getentities")
        ]

    # ------------------------------------------------------------------ routing

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, body))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            return self._route(method, path, query, body)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        low = path.rstrip("/").lower()
        segs = [s for s in low.split("/") if s]
        for fragment, (status, code) in self.fail.items():
            if fragment in low:
                return status, _error(code, f"injected failure for {path}")
        if "api-version" not in query:
            return 400, _error("MissingApiVersionParameter", "The api-version query parameter is required")
        policy = self.policy_route(method, path, low, query, body)
        if policy is not None:
            return policy
        if method == "POST" and low == "/batch":
            return 200, self._batch(body or {})
        if method == "POST" and low == "/providers/microsoft.resourcegraph/resources":
            return 200, self._graph(body or {})
        if low.endswith("/providers/microsoft.resources/databoundaries/default"):
            return 200, {
                "id": "/providers/Microsoft.Resources/dataBoundaries/default",
                "name": "default",
                "type": "Microsoft.Resources/dataBoundaries",
                "properties": {"dataBoundary": self.data_boundary, "provisioningState": "Succeeded"},
            }
        if method == "POST" and segs[-1:] in (["listaccountsas"], ["listservicesas"]):
            parent = low.rpartition("/")[0]
            if parent not in self.resources:
                return 404, _error("ResourceNotFound", f"The Resource '{path}' was not found.")
            key = "accountSasToken" if segs[-1] == "listaccountsas" else "serviceSasToken"
            perm = str((body or {}).get("signedPermission", "")) if isinstance(body, dict) else ""
            return 200, {key: f"sv=2023-11-03&sp={perm}&sig=fake"}
        if method in ("PUT", "PATCH"):
            return self._write(method, path, body)
        if method == "DELETE":
            with self._lock:
                gone = self.resources.pop(low, None) or self.resource_groups.pop(low, None)
            return (200 if gone else 204), None
        if method != "GET":
            return 404, _error("NotFound", f"no fake for {method} {path}")
        if segs == ["subscriptions"]:
            return 200, self._page(list(self.subscriptions.values()), query, path)
        if len(segs) >= 2 and segs[0] == "subscriptions" and segs[1] not in self.subscriptions:
            return 404, _error("SubscriptionNotFound", f"The subscription '{segs[1]}' could not be found.")
        if len(segs) == 2 and segs[0] == "subscriptions":
            return 200, self.subscriptions[segs[1]]
        if len(segs) == 3 and segs[2] == "resourcegroups":
            prefix = f"/subscriptions/{segs[1]}/"
            rgs = [g for k, g in self.resource_groups.items() if k.startswith(prefix)]
            return 200, self._page(rgs, query, path)
        if len(segs) == 3 and segs[2] == "resources":
            prefix = f"/subscriptions/{segs[1]}/"
            items = [_generic(r) for k, r in list(self.resources.items()) if k in self._listed and k.startswith(prefix)]
            return 200, self._page(items, query, path)
        if len(segs) == 5 and segs[2] == "providers":
            prefix = f"/subscriptions/{segs[1]}/"
            rtype = f"{segs[3]}/{segs[4]}"
            items = [r for k, r in list(self.resources.items()) if k.startswith(prefix) and r["type"].lower() == rtype]
            return 200, self._page(items, query, path)
        if low in self.resources:
            return 200, self.resources[low]
        if low in self.resource_groups:
            return 200, self.resource_groups[low]
        parent = low.rpartition("/")[0]
        if parent in self.resources:
            items = [r for k, r in list(self.resources.items()) if k.rpartition("/")[0] == low]
            return 200, self._page(items, query, path)
        return 404, _error("ResourceNotFound", f"The Resource '{path}' was not found.")

    def _write(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        low = path.rstrip("/").lower()
        body = body if isinstance(body, dict) else {}
        segs = path.rstrip("/").split("/")
        if len(segs) == 5 and segs[3].lower() == "resourcegroups":
            created = low not in self.resource_groups
            rid = self.add_resource_group(segs[2], segs[4], str(body.get("location", "")), body.get("tags"))
            return (201 if created else 200), self.resource_groups[rid.lower()]
        existing = self.resources.get(low, {})
        created = not existing
        merged = {**existing, **body}
        if method == "PATCH" and isinstance(body.get("properties"), dict):
            merged["properties"] = {**existing.get("properties", {}), **body["properties"]}
        self._put(
            path.rstrip("/"),
            _type_of(path),
            segs[-1],
            merged.get("location"),
            merged.get("sku"),
            merged.get("kind"),
            merged.get("properties"),
            merged.get("tags"),
            "/providers/" in path and path.count("/") <= 8,
        )
        res = self.resources[low]
        res["properties"].setdefault("provisioningState", "Succeeded")
        if res["type"].lower() == "microsoft.storage/storageaccounts":
            # What ARM reports once the account exists; its create answers 200 (or 202), never 201.
            from ._accounts import geo_secondary

            primary = str(res.get("location") or "")
            secondary, _ = geo_secondary(primary, (res.get("sku") or {}).get("name"))
            res["properties"].update({"primaryLocation": primary, "statusOfPrimary": "available"})
            if secondary:
                res["properties"].update({"secondaryLocation": secondary, "statusOfSecondary": "available"})
            else:
                res["properties"].pop("secondaryLocation", None)
            return 200, res
        return (201 if created and method == "PUT" else 200), res

    def _batch(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /batch``: ``{"requests": [{httpMethod, url, content, name}]}`` → ``{"responses": [...]}``."""
        responses = []
        for i, req in enumerate(body.get("requests") or []):
            parts = urlsplit(str(req.get("url", "")))
            query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
            method = str(req.get("httpMethod", "GET")).upper()
            with self._lock:
                self.requests.append(RecordedRequest(method, parts.path, query, req.get("content")))
            status, content = self._route(method, parts.path, query, req.get("content"))
            responses.append(
                {
                    "name": req.get("name") or str(i),
                    "httpStatusCode": status,
                    "headers": {"x-ms-request-id": str(uuid.uuid4())},
                    "content": content,
                    "contentLength": len(json.dumps(content)) if content is not None else 0,
                }
            )
        return {"responses": responses}

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], path: str) -> dict[str, Any]:
        start = int(query.get("$skiptoken", "0") or 0)
        top = self.page_size
        page = items[start : start + top]
        out: dict[str, Any] = {"value": page}
        if start + top < len(items):
            q = {k: v for k, v in query.items() if k != "$skiptoken"}
            q["$skiptoken"] = str(start + top)
            out["nextLink"] = f"{self.url}{path}?{urlencode(q)}"
        return out

    def _graph(self, body: Mapping[str, Any]) -> dict[str, Any]:
        subs = {str(s).lower() for s in body.get("subscriptions") or self.subscriptions} - self.hidden_from_graph
        query = str(body.get("query", "")).lower()
        rows: list[dict[str, Any]] = []
        if "resourcecontainers" in query:
            for g in self.resource_groups.values():
                sub = g["id"].split("/")[2]
                if sub.lower() in subs:
                    rows.append(
                        {
                            **g,
                            "type": g["type"].lower().replace("resourcegroups", "subscriptions/resourcegroups"),
                            "subscriptionId": sub,
                            "resourceGroup": g["name"],
                            "sku": None,
                            "kind": "",
                        }
                    )
        for k, r in list(self.resources.items()):
            sub = r["id"].split("/")[2]
            if k in self._listed and sub.lower() in subs:
                rows.append(
                    {
                        "id": r["id"],
                        "name": r["name"],
                        "type": r["type"].lower(),
                        "location": (r.get("location") or "").lower().replace(" ", ""),
                        "subscriptionId": sub,
                        "resourceGroup": r["id"].split("/")[4].lower(),
                        "sku": r.get("sku"),
                        "kind": r.get("kind", ""),
                        "tags": r.get("tags") or {},
                        "properties": r.get("properties") or {},
                    }
                )
        options = body.get("options") or {}
        top = int(options.get("$top") or 1000)
        start = int(options.get("$skipToken") or options.get("$skip") or 0)
        page = rows[start : start + top]
        out: dict[str, Any] = {
            "totalRecords": len(rows),
            "count": len(page),
            "resultTruncated": "false",
            "data": page,
            "facets": [],
        }
        if start + top < len(rows):
            out["$skipToken"] = str(start + top)
        return out


def _generic(r: Mapping[str, Any]) -> dict[str, Any]:
    """A resource as ``resources.list`` shows it (no properties)."""
    return {k: v for k, v in r.items() if k != "properties"}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    arm: FakeArm
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        status, payload = self.arm.handle(self.command, parts.path, query, body)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = do_HEAD = _serve


# --------------------------------------------------------------------------- seeded estates

#: subscriptions of :func:`seed_estate`
EU_SUB = "00000000-0000-0000-0000-00000000e001"
US_SUB = "00000000-0000-0000-0000-00000000e002"


def seed_estate(arm: FakeArm) -> dict[str, str]:
    """A small estate with one of each violation; returns resource id → expected status under ``eu``.

    EU: resource groups, LRS and GRS storage (pair northeurope), a Cosmos DB
    account in two EU regions, a SQL server, a registry replicated to North
    Europe, a VM in Sweden, a disk in Germany. Outside: a resource group in
    East US, GRS storage in UK South (secondary UK West), a Cosmos DB account
    with a US region, a SQL failover-group partner and a geo-replica in the US,
    a registry replication in the US, an object-replication policy to a US
    account (in a second subscription), and a Front Door in ``global``.
    """
    eu, us = arm.add_subscription(EU_SUB, "eu-prod"), arm.add_subscription(US_SUB, "us-dev")
    expect: dict[str, str] = {}

    def rg(sub: str, name: str, loc: str, status: str) -> None:
        expect[arm.add_resource_group(sub, name, loc)] = status

    rg(eu, "rg-eu", "westeurope", "compliant")
    rg(eu, "rg-us", "eastus", "violation")
    rg(us, "rg-dev", "eastus", "violation")
    expect[arm.add_storage_account(eu, "rg-eu", "eulrs", "westeurope")] = "compliant"
    expect[arm.add_storage_account(eu, "rg-eu", "eugrs", "westeurope", sku="Standard_GRS", secondary="northeurope")] = (
        "compliant"
    )
    expect[arm.add_storage_account(eu, "rg-eu", "eugzrs", "westeurope", sku="Standard_RAGZRS")] = "compliant"
    expect[arm.add_storage_account(eu, "rg-us", "ukgrs", "uksouth", sku="Standard_GRS", secondary="ukwest")] = (
        "violation"
    )
    usdest = arm.add_storage_account(us, "rg-dev", "usdest", "eastus")
    expect[usdest] = "violation"
    src = arm.add_storage_account(eu, "rg-eu", "eusource", "westeurope")
    expect[src] = "violation"
    arm.add_child(
        src,
        "objectReplicationPolicies",
        "policy1",
        properties={"sourceAccount": src, "destinationAccount": usdest, "rules": []},
    )

    def cosmos(name: str, regions: list[str], status: str) -> None:
        props = {
            "databaseAccountOfferType": "Standard",
            "locations": [{"locationName": r, "failoverPriority": i} for i, r in enumerate(regions)],
        }
        rid = arm.add_resource(
            eu, "rg-eu", "Microsoft.DocumentDB/databaseAccounts", name, "West Europe", properties=props
        )
        expect[rid] = status

    cosmos("cosmos-eu", ["West Europe", "North Europe"], "compliant")
    cosmos("cosmos-us", ["West Europe", "East US"], "violation")

    sql_eu = arm.add_resource(eu, "rg-eu", "Microsoft.Sql/servers", "sql-eu", "westeurope")
    expect[sql_eu] = "compliant"
    sql_fo = arm.add_resource(eu, "rg-eu", "Microsoft.Sql/servers", "sql-fo", "westeurope")
    expect[sql_fo] = "violation"
    arm.add_child(
        sql_fo,
        "failoverGroups",
        "fg1",
        properties={
            "partnerServers": [
                {
                    "id": f"/subscriptions/{us}/resourceGroups/rg-dev/providers/Microsoft.Sql/servers/sql-us",
                    "location": "East US",
                    "replicationRole": "Secondary",
                }
            ]
        },
    )
    db = arm.add_resource(eu, "rg-eu", "Microsoft.Sql/servers/databases", "sql-eu/orders", "westeurope")
    expect[db] = "violation"
    arm.add_child(
        db,
        "replicationLinks",
        "link1",
        properties={"partnerServer": "sql-us", "partnerLocation": "East US", "role": "Primary"},
    )
    db2 = arm.add_resource(eu, "rg-eu", "Microsoft.Sql/servers/databases", "sql-eu/catalog", "westeurope")
    expect[db2] = "compliant"

    for name, regions, status in (("acreu", ["northeurope"], "compliant"), ("acrus", ["eastus"], "violation")):
        acr = arm.add_resource(
            eu, "rg-eu", "Microsoft.ContainerRegistry/registries", name, "westeurope", sku={"name": "Premium"}
        )
        expect[acr] = status
        for r in regions:
            arm.add_child(acr, "replications", r, r)

    expect[arm.add_resource(eu, "rg-eu", "Microsoft.Compute/virtualMachines", "vm-se", "swedencentral")] = "compliant"
    expect[arm.add_resource(eu, "rg-eu", "Microsoft.Compute/disks", "disk-de", "germanywestcentral")] = "compliant"
    expect[arm.add_resource(eu, "rg-eu", "Microsoft.Network/frontDoors", "fd", "global")] = "violation"
    return expect


_BULK_TYPES = (
    ("Microsoft.Compute/virtualMachines", 30),
    ("Microsoft.Compute/disks", 30),
    ("Microsoft.Network/networkInterfaces", 20),
    ("Microsoft.KeyVault/vaults", 8),
    ("Microsoft.Storage/storageAccounts", 8),
    ("Microsoft.DocumentDB/databaseAccounts", 2),
    ("Microsoft.ContainerRegistry/registries", 2),
)


def seed_bulk(arm: FakeArm, subscription_id: str, resources: int, *, outside_every: int = 50) -> int:
    """``resources`` resources in one subscription (a realistic mix), every ``outside_every``-th in East US.

    Returns how many are outside the EU (by primary location).
    """
    sub = arm.add_subscription(subscription_id, "bulk")
    groups = max(1, resources // 100)
    for g in range(groups):
        arm.add_resource_group(sub, f"rg-{g:03d}", "westeurope")
    cycle = [t for (t, w) in _BULK_TYPES for _ in range(w)]
    outside = 0
    for i in range(resources):
        rtype = cycle[i % len(cycle)]
        loc = "westeurope"
        if outside_every and i % outside_every == outside_every - 1:
            loc, outside = "eastus", outside + 1
        rg = f"rg-{i % groups:03d}"
        name = f"r{i:05d}"
        if rtype == "Microsoft.Storage/storageAccounts":
            arm.add_storage_account(sub, rg, f"st{i:05d}", loc, sku="Standard_GRS")
        elif rtype == "Microsoft.DocumentDB/databaseAccounts":
            arm.add_resource(
                sub, rg, rtype, name, loc, properties={"locations": [{"locationName": loc, "failoverPriority": 0}]}
            )
        else:
            arm.add_resource(sub, rg, rtype, name, loc)
    return outside
