"""The Azure storage guard: hooks on azure-core's pipeline, checked before sending.

Design
======

**Which clients.** Every Azure SDK client (management, Storage, Key Vault …)
sends through ``azure.core.pipeline.Pipeline.run`` (``AsyncPipeline.run`` for
``.aio`` clients). Storage clients ignore ``per_call_policies`` and build
their pipelines themselves, so adding a policy to clients cannot reach them
all; wrapping ``run`` on the two pipeline classes can, for clients created
before and after :func:`install`. The wrapper looks at the request *before*
the first policy runs (no header is signed, no byte is sent) and raises
:class:`residency.ResidencyViolation` in enforce mode. The transport runner at
the end of every pipeline is wrapped too: a request whose method or URL a
policy changed after that first check (a 307/308 redirect, which repeats the
body; a storage ``use_location``/``secondary_hostname`` host swap; a request
a policy sends on its own) is checked again before it reaches the transport.
Uninstalling the last guard restores the original methods.

**Management plane** (``management.azure.com``, its regional
``<region>.management.azure.com`` and the sovereign clouds' equivalents in any
spelling (a trailing dot, any case); an ARM path — ``/subscriptions…``,
``/providers/…``, ``/batch`` — sent by a management client (one with
azure-mgmt-core's policies) to any host, or on loopback with an
``api-version`` query; never a storage host or a storage client's request):
every method but ``GET``/``HEAD``/``OPTIONS``/``DELETE`` has its body read as JSON (a stream is read and
replaced by its bytes; a body that is not JSON, or has a duplicated key, fails
closed) and checked:

* every location field: ``location`` and ``locationName`` at any depth
  (Cosmos DB ``locations[]``, failover policies), ``*Location``/``*Region``
  keys naming targets (``secondaryLocation``, ``targetRegion`` …), region lists
  (``locations``, ``regions``, ``targetRegions`` of gallery image versions,
  as strings or ``{name: …}``), ``extendedLocation.name`` (edge zones:
  unknown) and a deployment parameter ``location: {value: …}``;
* geo-redundant copies: a storage account created or updated with a
  geo-redundant SKU (GRS, RA-GRS, GZRS, RA-GZRS, ``StandardV2_*``) puts data in
  its paired region (an unknown pair fails closed; a SKU change without a
  location looks the account up); so do SQL ``requestedBackupStorageRedundancy:
  Geo``, PostgreSQL/MySQL ``geoRedundantBackup: Enabled`` and Recovery Services
  / Backup vaults set to ``GeoRedundant``;
* destinations: a storage account named by resource id (``destinationAccount``
  of object replication, ``storageAccountId``/``storageId`` of diagnostic
  settings and flow logs …) or by URL (``storageUri``, ``storageEndpoint``) is
  checked like a data-plane write to it; Log Analytics workspaces and Event
  Hubs named by id (``workspaceId``, ``eventHubAuthorizationRuleId``) are located
  with a ``GET``; SQL failover groups' ``partnerServers[].id`` too. Sources
  (``source*`` keys, ``creationData``) are not destinations;
* a write to a child resource (a container, a Key Vault secret, a Cosmos DB
  database, a failover group …) lands where its parent lives, whatever
  location its body claims: the parent is located (storage accounts through
  the account resolver, others with a ``GET``) and checked too;
* ARM templates (``Microsoft.Resources/deployments`` and ``deploymentStacks``
  at any scope): expressions in location fields are evaluated for the common
  forms (``parameters('x')``, ``variables('x')``, ``resourceGroup().location``,
  ``deployment().location``, string literals; nested deployments with inner or
  outer scope), in location fields, destinations and redundancy settings
  alike, and a template's storage accounts have their SKU's pair checked;
  anything else, and linked templates (``templateLink``, ``parametersLink``),
  cannot be checked before they run, so they fail closed;
* ``POST /batch`` checks every request inside; ``listAccountSas`` /
  ``listServiceSas`` with write permissions are SAS generation (below).

Look-ups (``GET``) go through the caller's own pipeline to its own endpoint,
so with its credential, and are cached for the guard's ``cache_ttl``; one that fails makes
the write unknown (blocked). Template expressions in ordinary resource bodies
are not locations ARM accepts, and are skipped (policy definitions carry
templates they do not deploy).

**Data plane** (``<account>.blob|dfs|queue|table|file|web.core.windows.net``,
the ``-secondary``, ``privatelink`` and DNS-zone forms, the sovereign clouds,
and Azurite's path-style ``127.0.0.1:<port>/<account>/…`` or host-style
``<account>.blob.localhost``): a write to an account whose primary or
secondary location is outside the geography is blocked. Writes are every
method but ``GET``/``HEAD``/``OPTIONS``, except blob query (``comp=query``)
and user-delegation-key requests (a repeated ``comp`` is a write). The account's locations come from the
configured resolver (:mod:`._accounts`; default: the management API with the
caller's credential) and are cached for the guard's ``cache_ttl``. **Where
the lookup goes** follows the write: an account named by a management request
(a SKU change, a destination) is looked up through that management client's
own pipeline at its own endpoint (a sovereign cloud, a private ARM); a
data-plane account at the management endpoint of its host's cloud
(``core.chinacloudapi.cn`` → ``management.chinacloudapi.cn`` …) unless
``configure(resolver=ArmAccountResolver(base_url=…))`` names another. Emulator
(loopback) accounts are never looked up in Azure: they come from
``configure(account_locations=…)`` or ``RESIDENCY_AZURE_ACCOUNT_LOCATIONS``
(``"euacct=westeurope,grsacct=eastus/westus"``), else they fail closed.

**SAS.** Generating a SAS whose permissions can change data (anything but
read/list/filter) is a write capability: ``generate_blob_sas``,
``generate_container_sas`` and ``generate_account_sas`` (also the DataLake,
Queue and File Share variants when installed) are checked against the
account's locations, whatever name they were imported under (the hook is on
the signature classes they call).

**Ignored.** Identity endpoints (``login.microsoftonline.com`` …, and token
paths such as ``/oauth2/token`` or ``/msi/token`` on any host that is not a
storage client's), the instance metadata service, ARM's ``/metadata/endpoints``,
and every host that is neither management nor storage (Key Vault, Cosmos DB
data plane …).

**Fail closed.** An account or resource whose location cannot be learned (no
resolver answer, lookup error, a storage pipeline on an unrecognised host, an
expression that cannot be evaluated) is reported as unknown, which blocks in
enforce mode.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import posixpath
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import attrs
from azure.core.pipeline import AsyncPipeline, Pipeline

from residency._catalog import lookup_location
from residency._guard import strict_json
from residency._net import is_loopback

from ._accounts import (
    AccountCache,
    AccountLocations,
    AccountResolver,
    ArmAccountResolver,
    ChainedAccountResolver,
    StaticAccountResolver,
    is_geo_redundant,
    management_endpoint_for,
    read_answer,
)

__all__ = [
    "ENV_ACCOUNT_LOCATIONS",
    "account_cache",
    "check_request",
    "configure",
    "install",
    "installed_guards",
    "parse_account_locations",
    "resolver",
    "uninstall",
]

_PROVIDER = "azure"
_lock = threading.RLock()
_guards: list[Any] = []
_originals: dict[str, Any] = {}

_MGMT_HOSTS = frozenset(
    {
        "management.azure.com",
        "management.usgovcloudapi.net",
        "management.chinacloudapi.cn",
        "management.microsoftazure.de",
        "management.core.windows.net",
        "management.core.usgovcloudapi.net",
        "management.core.chinacloudapi.cn",
    }
)
_IGNORED_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
    "login.chinacloudapi.cn",
    "login.windows.net",
    "login.microsoft.com",
    "graph.microsoft.com",
)
_IMDS = "169.254.169.254"
_STORAGE_HOST = re.compile(
    r"^(?P<account>[a-z0-9]{3,24})(?:-secondary)?\."
    r"(?:privatelink\.|z\d+\.)?"
    r"(?P<service>blob|dfs|queue|table|file|web)\."
    r"(?:core\.windows\.net|storage\.azure\.net|core\.usgovcloudapi\.net|core\.chinacloudapi\.cn)$"
)
_EMULATOR_HOST = re.compile(r"^(?P<account>[a-z0-9]{3,24})(?:-secondary)?\.(?P<service>blob|dfs|queue|table|file)\.")
_IDENTITY_PATH = re.compile(
    r"(?:/oauth2(?:/v2\.0)?/(?:token|devicecode|authorize)|/msi/token|/metadata/identity/oauth2/token"
    r"|/\.well-known/openid-configuration|/common/discovery/instance)/?$",
    re.IGNORECASE,
)
_AZURITE_PORTS = {10000: "blob", 10001: "queue", 10002: "table"}
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MGMT_WRITE_METHODS = frozenset({"PUT", "PATCH", "POST"})
#: POST actions on the management plane that store nothing
_MGMT_READ_ACTIONS = frozenset(
    {"validate", "whatif", "exporttemplate", "checknameavailability", "listkeys", "listconnectionstrings"}
)
_LOCATION_KEYS = frozenset(
    {
        "location",
        "locationname",
        "secondarylocation",
        "targetlocation",
        "targetregion",
        "replicalocation",
        "partnerlocation",
        "destinationlocation",
        "destinationregion",
        "failoverregion",
        "recoverylocation",
        "recoveryregion",
        "recoveryazurelocation",
        "backupregion",
    }
)
#: keys whose value is a list of regions (strings, or objects naming one in ``name``)
_REGION_LIST_KEYS = frozenset(
    {"locations", "regions", "targetregions", "replicaregions", "replicalocations", "replicationregions"}
)
#: keys naming a storage account (resource id or name) that data is sent to
_STORAGE_REF_KEYS = frozenset(
    {
        "destinationaccount",
        "storageaccountid",
        "storageid",
        "storageaccountresourceid",
        "destinationstorageaccountid",
        "targetstorageaccountid",
    }
)
#: keys naming a storage endpoint URL that data is sent to
_STORAGE_URL_KEYS = frozenset({"storageuri", "storageendpoint", "blobendpoint", "storageaccounturl"})
#: keys naming another resource (by id) that data is sent to
_RESOURCE_REF_KEYS = frozenset(
    {"workspaceid", "workspaceresourceid", "eventhubauthorizationruleid", "servicebusruleid", "destinationresourceid"}
)
#: (key, values) that keep a copy in the paired region of the resource's location
_GEO_MARKERS: Mapping[str, frozenset[str]] = {
    "requestedbackupstorageredundancy": frozenset({"geo", "geozone"}),
    "backupstorageredundancy": frozenset({"geo", "geozone"}),
    "georedundantbackup": frozenset({"enabled"}),
    "storagemodeltype": frozenset({"georedundant"}),
    "standardtierstorageredundancy": frozenset({"georedundant"}),
    "storagetype": frozenset({"georedundant"}),
}
_DEPLOYMENT_TYPES = frozenset({"microsoft.resources/deployments", "microsoft.resources/deploymentstacks"})
_STORAGE_ACCOUNT_ID = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.storage/storageaccounts/(?P<name>[^/]+)",
    re.IGNORECASE,
)
#: a request path on a storage account: the account's id, then what below it (``rest``)
_STORAGE_ACCOUNT_PATH = re.compile(_STORAGE_ACCOUNT_ID.pattern + r"(?P<rest>/.*)?$", re.IGNORECASE)
_ARM_ID = re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/[^/]+/[^/]+/[^/]+", re.IGNORECASE)
_RG_ID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)", re.IGNORECASE)
#: api-version of a location ``GET`` per provider (a request to the same provider uses its own)
_GET_API_VERSIONS = {
    "microsoft.resources": "2021-04-01",
    "microsoft.storage": "2023-05-01",
    "microsoft.sql": "2021-11-01",
    "microsoft.documentdb": "2024-05-15",
    "microsoft.containerregistry": "2023-07-01",
    "microsoft.operationalinsights": "2022-10-01",
    "microsoft.eventhub": "2024-01-01",
    "microsoft.servicebus": "2021-11-01",
    "microsoft.keyvault": "2023-07-01",
    "microsoft.compute": "2024-03-01",
    "microsoft.web": "2023-12-01",
    "microsoft.network": "2024-01-01",
    "microsoft.insights": "2021-05-01-preview",
}
# SAS permission letters that only read: read, list, filter (tags by filter).
_SAS_READ_LETTERS = frozenset("rlf")
_TIMEOUT = 60.0


ENV_ACCOUNT_LOCATIONS = "RESIDENCY_AZURE_ACCOUNT_LOCATIONS"


def parse_account_locations(text: str) -> dict[str, str | tuple[str, str | None]]:
    """``"euacct=westeurope,grsacct=eastus/westus"`` → ``{"euacct": "westeurope", "grsacct": ("eastus", "westus")}``.

    >>> parse_account_locations("a=westeurope, b=eastus/westus")
    {'a': 'westeurope', 'b': ('eastus', 'westus')}
    """
    out: dict[str, str | tuple[str, str | None]] = {}
    for item in text.split(","):
        name, sep, locs = item.strip().partition("=")
        if not item.strip():
            continue
        if not sep or not name.strip() or not locs.strip():
            raise ValueError(f"{ENV_ACCOUNT_LOCATIONS}: expected account=location[/secondary], got {item.strip()!r}")
        primary, _, secondary = locs.strip().partition("/")
        out[name.strip().lower()] = (primary, secondary) if secondary else primary
    return out


class _Config:
    def __init__(self) -> None:
        self.resolver: AccountResolver | None = None
        self.static: StaticAccountResolver | None = None
        self._default: ArmAccountResolver | None = None
        self._env: tuple[str, StaticAccountResolver | None] = ("", None)

    def _env_resolver(self) -> StaticAccountResolver | None:
        text = os.environ.get(ENV_ACCOUNT_LOCATIONS, "")
        if text != self._env[0]:
            self._env = (text, StaticAccountResolver(parse_account_locations(text)) if text.strip() else None)
        return self._env[1]

    def effective(self, *, emulator: bool = False, call: _Call | None = None) -> AccountResolver:
        """The resolver chain: ``configure(account_locations=…)``, the environment variable, then
        ``configure(resolver=…)`` or (not for emulator accounts, which Azure cannot know) the
        management API — asked where ``call`` says (:class:`_ArmAt`)."""
        chain: list[AccountResolver] = [r for r in (self.static, self._env_resolver()) if r is not None]
        last = self.resolver
        if last is None and not emulator:
            if self._default is None:
                self._default = ArmAccountResolver()
            last = self._default
        if isinstance(last, ArmAccountResolver) and call is not None:
            last = _ArmAt(last, call)
        if last is not None:
            chain.append(last)
        return chain[0] if len(chain) == 1 else ChainedAccountResolver(*chain)


class _ArmAt:
    """An :class:`ArmAccountResolver` asked for one write: through the calling management client's
    own pipeline at its endpoint, else at the management endpoint of the storage host's cloud."""

    def __init__(self, arm: ArmAccountResolver, call: _Call) -> None:
        self.arm, self.call = arm, call

    def resolve(self, account: str, credential: object | None = None) -> AccountLocations | None:
        if self.call.management is not None:
            return self.arm.resolve(account, credential, endpoint=self.call.management, fetch=self.call.fetch)
        return self.arm.resolve(account, credential, endpoint=self.call.cloud)


_config = _Config()
_cache = AccountCache()
_resource_cache = AccountCache()  # resource id -> its location, from management GETs


def configure(
    *,
    account_locations: dict[str, str | tuple[str, str | None]] | None = None,
    resolver: AccountResolver | None = None,
) -> None:
    """Tell the guard where storage accounts live.

    ``account_locations`` maps account names to a location or
    ``(primary, secondary)``; it is consulted first. ``resolver`` replaces the
    default management-API lookup (:class:`ArmAccountResolver`). Calling
    ``configure()`` with no arguments restores the defaults. The caches of
    resolved accounts and resources are cleared either way.
    """
    with _lock:
        _config.static = StaticAccountResolver(account_locations) if account_locations else None
        _config.resolver = resolver
        _cache.clear()
        _resource_cache.clear()


def resolver() -> AccountResolver:
    """The account resolver the guard uses now."""
    return _config.effective()


def account_cache() -> AccountCache:
    return _cache


def installed_guards() -> tuple[Any, ...]:
    with _lock:
        return tuple(_guards)


# --------------------------------------------------------------------------- classification


def _is_mgmt_host(host: str) -> bool:
    return host in _MGMT_HOSTS or any(host.endswith("." + h) for h in _MGMT_HOSTS)


def _is_ignored_host(host: str) -> bool:
    return host == _IMDS or any(host == h or host.endswith("." + h) for h in _IGNORED_HOSTS)


def _request_parts(request: Any) -> tuple[str, str]:
    return str(getattr(request, "method", "GET")).upper(), str(getattr(request, "url", ""))


def _policy_types(pipeline: Any) -> Iterator[type]:
    for p in getattr(pipeline, "_impl_policies", ()):
        yield type(getattr(p, "_policy", p))


def _storage_pipeline(pipeline: Any) -> bool:
    return any(t.__module__.startswith("azure.storage.") or "Storage" in t.__name__ for t in _policy_types(pipeline))


_SDK_SERVICES = {"blob": "blob", "queue": "queue", "filedatalake": "dfs", "fileshare": "file"}


def _storage_service(pipeline: Any, port: int | None) -> str:
    """``blob``/``queue``/``dfs``/``file`` from the storage SDK that built the pipeline (else the Azurite port)."""
    for t in _policy_types(pipeline):
        parts = t.__module__.split(".")
        if parts[:2] == ["azure", "storage"] and len(parts) > 2 and parts[2] in _SDK_SERVICES:
            return _SDK_SERVICES[parts[2]]
    return _AZURITE_PORTS.get(port or 0, "storage")


def _mgmt_pipeline(pipeline: Any) -> bool:
    return any(t.__module__.startswith("azure.mgmt.core") for t in _policy_types(pipeline))


def _caller_credential(pipeline: Any) -> object | None:
    for p in getattr(pipeline, "_impl_policies", ()):
        inner = getattr(p, "_policy", p)
        cred: object | None = getattr(inner, "_credential", None)
        if cred is not None and hasattr(cred, "get_token"):
            return cred
    return None


def _clean_url(url: str) -> str:
    """The URL without its query (a SAS signature must never reach a message or log)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _normalise_path(path: str) -> str:
    """``/a//b/./c%2Fd`` → ``/a/b/c/d``: the path ARM will act on, not the one the client spelled."""
    path = re.sub(r"/{2,}", "/", unquote(path or "/"))
    norm = posixpath.normpath(path)
    return "/" + norm.lstrip("/") if norm != "." else "/"


def _query(url: str) -> dict[str, str]:
    return {k.lower(): v[-1] for k, v in parse_qs(urlsplit(url).query).items()}


_ARM_ROOTS = ("/subscriptions", "/providers/", "/batch", "/tenants", "/metadata/")


def _is_management(pipeline: Any, host: str, path: str, query: Mapping[str, str]) -> bool:
    """A management-plane request: by host, or an ARM path sent by a management client (or on loopback).

    A storage host or a storage client's request is never management, so a
    management client cannot be used to put bytes into a storage account.
    """
    if _STORAGE_HOST.match(host) or _storage_pipeline(pipeline):
        return False
    if _is_mgmt_host(host):
        return True
    arm_path = path.lower() == "/subscriptions" or path.lower().startswith(_ARM_ROOTS)
    return arm_path and (_mgmt_pipeline(pipeline) or (is_loopback(host) and "api-version" in query))


def _is_mgmt_write(method: str) -> bool:
    """Everything but reads and deletes (an unknown method is a write)."""
    return method not in _READ_METHODS and method != "DELETE"


# --------------------------------------------------------------------------- request bodies


class _BodyError(ValueError):
    """The body of a management write cannot be read: the write fails closed."""


def _raw_body(request: Any) -> tuple[Any, bool]:
    """``(body, is_rest_request)``: what will be sent, without copying it."""
    if "_data" in getattr(request, "__dict__", {}) and hasattr(type(request), "content"):
        return request._data or getattr(request, "_files", None), True  # azure.core.rest.HttpRequest
    raw = getattr(request, "data", None)
    if raw is None:
        raw = getattr(request, "files", None)
    return raw, False


def _replace_body(request: Any, data: bytes, rest: bool) -> None:
    if rest:
        request._data = data
    else:
        request.data = data


def _read_body(request: Any) -> Any:
    """A management request's JSON body (``None`` when it has none); raises :class:`_BodyError`.

    A stream or iterable body is read once and replaced by its bytes, so what
    is checked is what is sent.
    """
    raw, rest = _raw_body(request)
    if raw is None:
        return None
    if isinstance(raw, (Mapping, list)):
        return raw  # a JSON (or form) body set as an object: checked as it is
    if hasattr(raw, "read"):
        try:
            pos = raw.tell() if raw.seekable() else None
        except (AttributeError, OSError, ValueError):
            pos = None
        data = raw.read()
        if pos is not None:
            raw.seek(pos)
        else:
            _replace_body(request, data if isinstance(data, bytes) else str(data).encode(), rest)
        raw = data
    elif hasattr(raw, "__aiter__") and not isinstance(raw, (str, bytes, bytearray)):
        raise _BodyError("a streamed asynchronous body cannot be read before it is sent")
    elif hasattr(raw, "__iter__") and not isinstance(raw, (str, bytes, bytearray)):
        raw = b"".join(bytes(c) if not isinstance(c, str) else c.encode() for c in raw)
        _replace_body(request, raw, rest)
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise _BodyError(f"a body of type {type(raw).__name__} is not JSON")
    text = raw.lstrip("\ufeff \t\r\n")
    if not text:
        return None
    try:
        return strict_json(text, _BodyError)
    except _BodyError:
        raise
    except ValueError as exc:
        raise _BodyError(f"the body is not JSON ({exc})") from None


async def _materialize_async_body(request: Any) -> None:
    """Collect an async-iterable management body into bytes (the check cannot await)."""
    raw, rest = _raw_body(request)
    if raw is not None and hasattr(raw, "__aiter__") and not hasattr(raw, "read"):
        chunks = [c if isinstance(c, bytes) else str(c).encode() async for c in raw]
        _replace_body(request, b"".join(chunks), rest)


# --------------------------------------------------------------------------- look-ups


def _guards_now() -> tuple[Any, ...]:
    with _lock:
        return tuple(_guards)


def _ttl(guards: tuple[Any, ...]) -> float:
    return min((float(getattr(g, "cache_ttl", 300.0)) for g in guards), default=300.0)


class _BridgedCredential:
    """An async client's credential, called from the guard's worker thread on the client's event loop."""

    def __init__(self, credential: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.residency_identity = credential
        self._loop = loop

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        coro = self.residency_identity.get_token(*scopes, **kwargs)
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_TIMEOUT)


@attrs.define
class _Call:
    """The caller's side of one request: its pipeline (for look-ups), credential and event loop.

    ``management`` is the endpoint of the calling management client (its
    look-ups go through its own pipeline there); ``cloud`` the management
    endpoint of a data-plane host's cloud (for the resolver's own client).
    """

    pipeline: Any
    url: str
    loop: asyncio.AbstractEventLoop | None = None
    management: str | None = None
    cloud: str | None = None

    @property
    def api_version(self) -> str | None:
        return _query(self.url).get("api-version")

    def credential(self) -> object | None:
        cred = _caller_credential(self.pipeline)
        if cred is not None and inspect.iscoroutinefunction(getattr(cred, "get_token", None)):
            return _BridgedCredential(cred, self.loop) if self.loop is not None else None
        return cred

    def get_json(self, path: str, api_version: str) -> Any:
        """``GET path`` on the request's own host through the caller's pipeline (its credential, retries)."""
        parts = urlsplit(self.url)
        return self.fetch(f"{parts.scheme}://{parts.netloc}{path}?api-version={quote(api_version)}")

    def fetch(self, url: str) -> Any:
        """``GET url`` through the caller's pipeline; the parsed JSON (a status of 400 or more raises)."""
        from azure.core.rest import HttpRequest

        if self.pipeline is None:
            raise LookupError("no client pipeline to look it up with")
        request = HttpRequest("GET", url)
        if isinstance(self.pipeline, AsyncPipeline):
            if self.loop is None:
                raise LookupError("an async client's look-up needs its event loop")

            async def fetch() -> tuple[int, str]:
                response = (await self.pipeline.run(request)).http_response
                return response.status_code, response.text()

            status, text = asyncio.run_coroutine_threadsafe(fetch(), self.loop).result(_TIMEOUT)
        else:
            response = self.pipeline.run(request).http_response
            status, text = response.status_code, response.text()
        return read_answer(url, status, text)


def _top_level_id(resource_id: str) -> str:
    """``/subscriptions/s/resourceGroups/g/providers/NS/type/name`` of any id below it."""
    m = _ARM_ID.match(resource_id)
    return m.group(0) if m else resource_id


def _provider_of(resource_id: str) -> str:
    low = resource_id.lower()
    if "/providers/" not in low:
        return "microsoft.resources"
    return low.rsplit("/providers/", 1)[1].split("/", 1)[0]


def _account_locations(
    account: str, call: _Call, guards: tuple[Any, ...], *, emulator: bool = False
) -> AccountLocations | str:
    """The account's locations, or the reason they are unknown (any lookup failure fails closed)."""
    try:
        resolver = _config.effective(emulator=emulator, call=call)
        credential = call.credential()
        # One cloud's answer is not another's: the same name can exist in the public and a sovereign cloud.
        key = f"{call.management or call.cloud or ''} {account}"
        found = _cache.get(key, _ttl(guards), lambda: resolver.resolve(account, credential))
    except Exception as exc:
        return f"looking up storage account {account!r} failed: {type(exc).__name__}: {exc}"
    if found is None:
        if emulator:
            return (
                f"emulator account {account!r} has no configured location: set "
                f"{ENV_ACCOUNT_LOCATIONS} or call residency.providers.azure.configure(account_locations=...)"
            )
        return f"storage account {account!r} was not found by the account resolver"
    return found


class _Checks:
    """The checks of one write, against every installed guard."""

    def __init__(self, guards: tuple[Any, ...], operation: str, target: str, call: _Call) -> None:
        self.guards, self.operation, self.target, self.call = guards, operation, target, call

    def location(self, location: str, hint: str | None = None) -> None:
        for g in self.guards:
            g.check_write(_PROVIDER, self.operation, self.target, location, hint=hint)

    def unknown(self, reason: str) -> None:
        for g in self.guards:
            g.check_write(_PROVIDER, self.operation, self.target, None, unknown_reason=reason)

    def pair_of(self, location: str, why: str) -> None:
        """``why`` (a geo-redundant setting) keeps a copy in the pair of ``location``."""
        pair = lookup_location(_PROVIDER, location).pair
        if pair is None:
            self.unknown(f"{why} keeps a copy in the pair of {location}, which is not known")
        else:
            self.location(pair, hint=f"{why} keeps a copy in {pair}, the pair of {location}")

    def account(self, name: str, role: str | None, *, emulator: bool = False) -> AccountLocations | None:
        """Check a storage account's primary and secondary location; its locations, if known.

        ``role`` names the account in the hints (``"destination storage account"``);
        ``None`` when the write goes to the account itself (a data-plane write, a SAS).
        """
        found = _account_locations(name, self.call, self.guards, emulator=emulator)
        if isinstance(found, str):
            self.unknown(found)
            return None
        who = f"{role} {name!r}" if role else repr(name)
        self.location(found.primary, hint=f"{found.primary} is where {who} stores data" if role else None)
        if found.secondary:
            self.location(found.secondary, hint=f"{found.secondary} is the geo-redundant secondary of {who}")
        return found

    def resource_location(self, resource_id: str, api_version: str | None = None) -> str | None:
        """Where an existing resource lives (a cached ``GET``); ``None`` after reporting it unknown."""
        provider = _provider_of(resource_id)
        version = api_version or _GET_API_VERSIONS.get(provider)
        if version is None:
            self.unknown(f"the location of {resource_id} cannot be looked up (no api-version known for {provider})")
            return None

        def fetch() -> AccountLocations | None:
            got = self.call.get_json(resource_id, version)
            loc = got.get("location") if isinstance(got, Mapping) else None
            return AccountLocations(resource_id.lower(), str(loc), None, "arm:GET") if loc else None

        try:
            key = f"{urlsplit(self.call.url).netloc.lower()} {resource_id.lower()}"
            found = _resource_cache.get(key, _ttl(self.guards), fetch)
        except Exception as exc:
            self.unknown(f"the location of {resource_id} could not be read: {type(exc).__name__}: {exc}")
            return None
        if found is None:
            self.unknown(f"the location of {resource_id} could not be read: it reports none")
            return None
        return found.primary

    def resource(self, resource_id: str, role: str, api_version: str | None = None) -> str | None:
        loc = self.resource_location(resource_id, api_version)
        if loc is not None:
            self.location(loc, hint=f"{loc} is the location of {role} {resource_id}")
        return loc


# --------------------------------------------------------------------------- ARM templates


def _ci_get(node: Mapping[str, Any], key: str) -> Any:
    want = key.lower()
    for k, v in node.items():
        if str(k).lower() == want:
            return v
    return None


_PARAM = re.compile(r"^(parameters|variables)\(\s*'([^']*)'\s*\)$", re.IGNORECASE)
_LITERAL = re.compile(r"^'([^']*)'$")


class _Scope:
    """Where template expressions are evaluated: a template, its parameter values and its resource group."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any] | None,
        parent: _Scope | None,
        resource_group: str | None,
        deployment_location: str | None,
    ) -> None:
        self.template = template
        self.parameters = parameters or {}
        self.parent = parent
        self.resource_group = resource_group
        self.deployment_location = deployment_location

    def evaluate(self, value: str, depth: int = 0) -> tuple[str | None, str]:
        """``(location, "")``, ``("@rg:<id>", "")`` for a resource group's location, or ``(None, why)``."""
        if depth > 8:
            return None, f"the expression {value!r} nests too deeply"
        if not (value.startswith("[") and not value.startswith("[[")):
            return value, ""
        expr = value[1:-1].strip() if value.endswith("]") else value[1:].strip()
        low = expr.replace(" ", "").lower()
        if low == "resourcegroup().location":
            if self.resource_group is None:
                return None, f"{value!r}: the resource group of this deployment is not known"
            return f"@rg:{self.resource_group}", ""
        if low == "deployment().location":
            if self.deployment_location is None:
                return None, f"{value!r}: the deployment has no location"
            return self.deployment_location, ""
        lit = _LITERAL.match(expr)
        if lit:
            return lit.group(1), ""
        ref = _PARAM.match(expr)
        if ref is None:
            return None, f"the template expression {value!r} cannot be evaluated before deployment"
        kind, name = ref.group(1).lower(), ref.group(2)
        if kind == "variables":
            var = _ci_get(_ci_get(self.template, "variables") or {}, name)
            if not isinstance(var, str):
                return None, f"{value!r}: variable {name!r} is not a string"
            return self.evaluate(var, depth + 1)
        given = _ci_get(self.parameters, name)
        if isinstance(given, Mapping):
            if _ci_get(given, "reference") is not None:
                return None, f"{value!r}: parameter {name!r} is a Key Vault reference"
            given = _ci_get(given, "value")
            if isinstance(given, str):
                # Values handed to a nested (inner-scope) template are evaluated where they were written.
                return self.parent.evaluate(given, depth + 1) if self.parent else (given, "")
        if given is not None:
            return (given, "") if isinstance(given, str) else (None, f"{value!r}: parameter {name!r} is not a string")
        definition = _ci_get(_ci_get(self.template, "parameters") or {}, name)
        default = _ci_get(definition, "defaultValue") if isinstance(definition, Mapping) else None
        if isinstance(default, str):
            return self.evaluate(default, depth + 1)
        return None, f"{value!r}: parameter {name!r} has no value"


def _resource_group_of(path: str) -> str | None:
    m = _RG_ID.match(path)
    return f"/subscriptions/{m.group('sub')}/resourceGroups/{m.group('rg')}" if m else None


# --------------------------------------------------------------------------- walking a body


@attrs.frozen
class _Item:
    kind: str  # location | unknown | resource-group | storage | storage-url | resource | partner | geo
    where: str
    value: str
    #: for ``geo`` inside a template: the location of the resource it belongs to ("" = not known)
    at: str | None = None


@attrs.frozen
class _Ctx:
    scope: _Scope | None = None  # inside a deployment: where expressions are evaluated
    source: bool = False  # below a ``source*`` key or ``creationData``: what is read, not written
    at: str | None = None  # inside a template resource: its location ("" = cannot be evaluated)


def _is_expression(value: str) -> bool:
    return value.startswith("[") and not value.startswith("[[")


def _resolve(value: str, ctx: _Ctx) -> tuple[str | None, str]:
    """A string as it will be deployed: expressions evaluated in the template's scope."""
    value = value.strip()
    if not _is_expression(value):
        return value, ""
    if ctx.scope is None:
        return None, ""
    return ctx.scope.evaluate(value)


def _walk(node: Any, path: str = "", ctx: _Ctx = _Ctx()) -> Iterator[_Item]:
    """Everything in a request body that says where data will be (see the module docstring)."""
    if isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]", ctx)
        return
    if not isinstance(node, Mapping):
        return
    if ctx.scope is not None and isinstance(_ci_get(node, "type"), str):
        ctx = _template_resource(node, path, ctx)
        yield from _template_storage_sku(node, path, ctx)
        nested = _nested_scope(node, ctx.scope) if ctx.scope is not None else None
        if nested is not None:
            inner_scope, props = nested
            for k, v in node.items():
                if str(k).lower() != "properties":
                    yield from _walk_key(str(k), v, path, ctx)
            for k, v in props.items():
                sub = f"{path}.properties.{k}"
                if str(k).lower() == "template" and isinstance(v, Mapping):
                    yield from _walk_template(v, sub, attrs.evolve(ctx, scope=inner_scope, at=None))
                elif str(k).lower() != "parameters":
                    yield from _walk_key(str(k), v, f"{path}.properties", ctx)
            return
    for k, v in node.items():
        yield from _walk_key(str(k), v, path, ctx)


def _template_resource(node: Mapping[str, Any], path: str, ctx: _Ctx) -> _Ctx:
    """Entering a resource declared in a template: remember where it will be."""
    loc = _ci_get(node, "location")
    if not isinstance(loc, str):
        return attrs.evolve(ctx, at=ctx.at if ctx.at is not None else "")
    resolved, _ = _resolve(loc, ctx)
    if resolved is None or resolved.startswith("@rg:"):
        resolved = "" if resolved is None else resolved
    return attrs.evolve(ctx, at=resolved)


def _template_storage_sku(node: Mapping[str, Any], path: str, ctx: _Ctx) -> Iterator[_Item]:
    """A storage account declared in a template with a geo-redundant SKU."""
    if str(_ci_get(node, "type")).lower() != "microsoft.storage/storageaccounts":
        return
    sku = _ci_get(node, "sku")
    name = _ci_get(sku, "name") if isinstance(sku, Mapping) else None
    if not isinstance(name, str):
        return
    resolved, why = _resolve(name, ctx)
    if resolved is None:
        yield _Item("unknown", f"{path}.sku.name", f"{path}.sku.name: {why}")
    elif is_geo_redundant(resolved):
        yield _Item("geo", f"{path}.sku.name", f"SKU {resolved}", ctx.at or "")


def _walk_template(template: Mapping[str, Any], path: str, ctx: _Ctx) -> Iterator[_Item]:
    """A template's resources; its parameters, variables and outputs count where they are used."""
    for k, v in template.items():
        if str(k).lower() == "resources":
            yield from _walk(v, f"{path}.{k}", ctx)


def _location_value(value: str, where: str, ctx: _Ctx) -> Iterator[_Item]:
    value = value.strip()
    if not value:
        return
    if _is_expression(value) and ctx.scope is None:
        return  # not a location ARM accepts outside a template (policy definitions carry templates)
    loc, why = _resolve(value, ctx)
    if loc is None:
        yield _Item("unknown", where, f"{where}: {why}")
    elif loc.startswith("@rg:"):
        yield _Item("resource-group", where, loc[4:])
    else:
        yield _Item("location", where, loc)


def _walk_key(key: str, v: Any, path: str, ctx: _Ctx) -> Iterator[_Item]:
    sub = f"{path}.{key}" if path else key
    low = key.lower()
    if low in ("templatelink", "parameterslink") and v:
        yield _Item("unknown", sub, f"{sub}: a linked template cannot be checked before it is deployed")
        return
    if low in ("maintemplate", "linkedtemplates"):
        return  # a template spec stores a template; deploying it is a deployment
    if low == "template" and ctx.scope is not None and isinstance(v, Mapping):
        yield from _walk_template(v, sub, ctx)
        return
    if not ctx.source and (low.startswith("source") or low == "creationdata"):
        ctx = attrs.evolve(ctx, source=True)
    if low in _LOCATION_KEYS:
        if isinstance(v, str):
            yield from _location_value(v, sub, ctx)
            return
        if low == "location" and isinstance(v, Mapping) and isinstance(_ci_get(v, "value"), str):
            yield from _location_value(_ci_get(v, "value"), f"{sub}.value", ctx)
            return
    if low in _REGION_LIST_KEYS and isinstance(v, list):
        for i, item in enumerate(v):
            if isinstance(item, str):
                yield from _location_value(item, f"{sub}[{i}]", ctx)
            elif isinstance(item, Mapping):
                name = _ci_get(item, "name")
                has_loc = any(str(k).lower() in _LOCATION_KEYS for k in item)
                if isinstance(name, str) and not has_loc:
                    yield from _location_value(name, f"{sub}[{i}].name", ctx)
                yield from _walk(item, f"{sub}[{i}]", ctx)
        return
    if low == "extendedlocation" and isinstance(v, Mapping) and isinstance(_ci_get(v, "name"), str):
        yield _Item("unknown", f"{sub}.name", f"{sub}.name is the extended location {_ci_get(v, 'name')!r}")
        return
    if isinstance(v, str) and v.strip() and not ctx.source:
        refs = _GEO_MARKERS.keys() | _STORAGE_REF_KEYS | _STORAGE_URL_KEYS | _RESOURCE_REF_KEYS
        if low in refs:
            text, why = _resolve(v, ctx)
            if text is None:
                if ctx.scope is not None:  # an expression naming where data goes that cannot be evaluated
                    yield _Item("unknown", sub, f"{sub}: {why}")
                return
            if low in _GEO_MARKERS:
                if text.lower() in _GEO_MARKERS[low]:
                    yield _Item("geo", sub, f"{key} {text}", ctx.at)
            elif low in _STORAGE_REF_KEYS:
                yield _Item("storage", sub, text)
            elif low in _STORAGE_URL_KEYS:
                yield _Item("storage-url", sub, text)
            elif text.lower().startswith("/subscriptions/"):
                yield _Item("resource", sub, text)
            return
    if low == "storagesettings" and isinstance(v, list):
        for i, st in enumerate(v):
            if isinstance(st, Mapping) and str(_ci_get(st, "type") or "").lower() == "georedundant":
                yield _Item("geo", f"{sub}[{i}].type", "backup storage GeoRedundant", ctx.at)
    if low == "partnerservers" and isinstance(v, list):
        for i, partner in enumerate(v):
            pid = _ci_get(partner, "id") if isinstance(partner, Mapping) else None
            if isinstance(pid, str) and not _ci_get(partner, "location"):
                yield _Item("partner", f"{sub}[{i}].id", pid)
    yield from _walk(v, sub, ctx)


def _nested_scope(node: Mapping[str, Any], scope: _Scope) -> tuple[_Scope, Mapping[str, Any]] | None:
    """A nested deployment resource inside a template: the scope its own template is evaluated in."""
    if str(_ci_get(node, "type") or "").lower() not in _DEPLOYMENT_TYPES:
        return None
    props = _ci_get(node, "properties")
    if not isinstance(props, Mapping) or not isinstance(_ci_get(props, "template"), Mapping):
        return None
    options = _ci_get(props, "expressionEvaluationOptions")
    inner = isinstance(options, Mapping) and str(_ci_get(options, "scope") or "").lower() == "inner"
    if not inner:
        return scope, props  # outer scope: the nested template's expressions are the parent's
    rg: str | None = scope.resource_group
    sub_id, group = _ci_get(node, "subscriptionId"), _ci_get(node, "resourceGroup")
    if isinstance(group, str) or isinstance(sub_id, str):
        if any(isinstance(x, str) and _is_expression(x) for x in (group, sub_id)):
            rg = None
        else:
            current = _RG_ID.match(scope.resource_group or "")
            sub = sub_id or (current.group("sub") if current else None)
            name = group or (current.group("rg") if current else None)
            rg = f"/subscriptions/{sub}/resourceGroups/{name}" if sub and name else None
    return _Scope(_ci_get(props, "template"), _ci_get(props, "parameters"), scope, rg, None), props


# --------------------------------------------------------------------------- management plane


def _resource_type(path: str) -> str:
    low = path.lower()
    if "/providers/" not in low:
        if re.search(r"/resourcegroups/[^/]+$", path, re.IGNORECASE):
            return "Microsoft.Resources/resourceGroups"
        if re.match(r"^/subscriptions/[^/]+$", path, re.IGNORECASE):
            return "Microsoft.Resources/subscriptions"
        return "ARM"
    rest = path[low.rindex("/providers/") + len("/providers/") :]
    segs = rest.split("/")
    return "/".join([segs[0], *segs[1::2]])


def _child_parent(path: str) -> str | None:
    """The top-level resource a child resource (``…/servers/s/databases/d``) belongs to."""
    low = path.lower()
    if low.count("/providers/") != 1 or not _ARM_ID.match(path):
        return None
    top = _top_level_id(path)
    return top if len(path.rstrip("/")) > len(top) else None


def _sas_writes(permission: object) -> bool:
    if permission is None:
        return True  # a stored access policy decides: assume it can write
    letters = set(str(permission).lower())
    return not letters <= _SAS_READ_LETTERS


def _check_management(
    guards: tuple[Any, ...],
    method: str,
    path: str,
    body: Any,
    call: _Call,
    *,
    label: str = "",
    depth: int = 0,
) -> None:
    rtype = _resource_type(path)
    checks = _Checks(guards, f"{label}{method} {rtype}", path, call)
    low = path.lower()
    action = low.rsplit("/", 1)[-1]
    if method == "POST" and low == "/batch":
        _check_batch(checks, body, depth)
        return
    if method == "POST" and action in _MGMT_READ_ACTIONS:
        return
    storage = _STORAGE_ACCOUNT_PATH.match(path)
    if method == "POST" and storage and action in ("listaccountsas", "listservicesas"):
        perm = _ci_get(body, "signedPermission") if isinstance(body, Mapping) else None
        if _sas_writes(perm):
            checks.operation = f"{label}generate account SAS ({action}) with permission {perm!r}"
            checks.account(storage.group("name"), "storage account")
        return
    if body is None and method == "POST":
        return
    scope: _Scope | None = None
    top_location = _ci_get(body, "location") if isinstance(body, Mapping) else None
    top_location = top_location if isinstance(top_location, str) and top_location.strip() else None
    if rtype.lower() in _DEPLOYMENT_TYPES and isinstance(body, Mapping):
        props = _ci_get(body, "properties")
        template = _ci_get(props, "template") if isinstance(props, Mapping) else None
        scope = _Scope(
            template if isinstance(template, Mapping) else {},
            _ci_get(props, "parameters") if isinstance(props, Mapping) else None,
            None,
            _resource_group_of(path),
            top_location,
        )
    items = list(_walk(body, ctx=_Ctx(scope=scope))) if body is not None else []
    geo: list[_Item] = []
    for item in items:
        if item.kind == "location":
            checks.location(item.value)
        elif item.kind == "unknown":
            checks.unknown(item.value)
        elif item.kind == "resource-group":
            checks.resource(item.value, "resource group", _GET_API_VERSIONS["microsoft.resources"])
        elif item.kind == "partner":
            same = _provider_of(item.value) == _provider_of(path)
            checks.resource(item.value, "partner", call.api_version if same else None)
        elif item.kind == "resource":
            checks.resource(_top_level_id(item.value), f"destination ({item.where})")
        elif item.kind == "storage":
            m = _STORAGE_ACCOUNT_ID.match(item.value)
            if m:
                checks.account(m.group("name"), f"destination storage account ({item.where})")
            elif item.value.lower().startswith("/subscriptions/"):
                checks.resource(_top_level_id(item.value), f"destination ({item.where})")
            elif re.fullmatch(r"[a-z0-9]{3,24}", item.value.lower()):
                checks.account(item.value.lower(), f"destination storage account ({item.where})")
            else:
                checks.unknown(f"{item.where}: {item.value!r} names no storage account")
        elif item.kind == "storage-url":
            host = (urlsplit(item.value).hostname or "").lower().rstrip(".")
            m = _STORAGE_HOST.match(host)
            if m:
                checks.account(m.group("account"), f"destination storage account ({item.where})")
            else:
                checks.unknown(f"{item.where}: {_clean_url(item.value)} is not a storage endpoint this guard knows")
        elif item.kind == "geo" and item.at is not None:  # inside a template: its resource's location
            if item.at.startswith("@rg:"):
                rg_location = checks.resource_location(item.at[4:], _GET_API_VERSIONS["microsoft.resources"])
                if rg_location is not None:
                    checks.pair_of(rg_location, item.value)
            elif item.at:
                checks.pair_of(item.at, item.value)
            else:
                checks.unknown(f"{item.where}: {item.value} keeps a copy in a paired region of a location not known")
        elif item.kind == "geo":
            geo.append(item)
    sku_name = ""
    if storage and not (storage.group("rest") or "") and isinstance(body, Mapping):
        sku = _ci_get(body, "sku")
        sku_name = str(_ci_get(sku, "name") or "") if isinstance(sku, Mapping) else ""
        if is_geo_redundant(sku_name):
            geo.append(_Item("geo", "sku.name", f"SKU {sku_name}"))
    if geo:
        _check_geo(checks, geo, path, top_location, storage, method)
    # A child lands where its parent lives, whatever location its body claims (ARM ignores it for many).
    parent = _child_parent(path) if method != "POST" else None
    if parent is not None:
        m = _STORAGE_ACCOUNT_ID.match(parent)
        if m:
            checks.account(m.group("name"), "storage account")
        else:
            version = call.api_version if _provider_of(parent) == _provider_of(path) else None
            checks.resource(parent, "parent resource", version)


def _check_geo(
    checks: _Checks, geo: list[_Item], path: str, top_location: str | None, storage: Any, method: str
) -> None:
    """Geo-redundant settings keep a copy in the pair of the resource's own location."""
    primaries: list[str] = []
    if top_location and not _is_expression(top_location):
        primaries = [top_location]
    elif storage is not None:
        found = _account_locations(storage.group("name"), checks.call, checks.guards)
        if isinstance(found, str):
            checks.unknown(found)
            return
        primaries = [found.primary]
    elif method in ("PUT", "PATCH") and _ARM_ID.match(path):
        loc = checks.resource_location(_top_level_id(path), checks.call.api_version)
        if loc is None:
            return
        primaries = [loc]
    else:
        checks.unknown(f"{geo[0].value} keeps a copy in a paired region, and the resource's location is not known")
        return
    for item in geo:
        for primary in primaries:
            checks.pair_of(primary, item.value)


def _check_batch(checks: _Checks, body: Any, depth: int) -> None:
    """``POST /batch``: every request inside is a management request of its own."""
    requests = _ci_get(body, "requests") if isinstance(body, Mapping) else None
    if depth > 1 or not isinstance(requests, list):
        checks.unknown("an ARM batch whose requests cannot be read")
        return
    for i, sub in enumerate(requests):
        if not isinstance(sub, Mapping):
            checks.unknown(f"batch request {i} cannot be read")
            continue
        method = str(_ci_get(sub, "httpMethod") or "").strip().upper()
        if not _is_mgmt_write(method):
            continue
        url = str(_ci_get(sub, "url") or "")
        path = _normalise_path(urlsplit(url).path)
        content = _ci_get(sub, "content")
        if not urlsplit(url).netloc:
            parts = urlsplit(checks.call.url)
            url = f"{parts.scheme}://{parts.netloc}{url}"
        call = attrs.evolve(checks.call, url=url)
        _check_management(checks.guards, method, path, content, call, label="batch: ", depth=depth + 1)


# --------------------------------------------------------------------------- one request


def check_request(pipeline: Any, request: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Check one outgoing request against every installed guard (raises in enforce mode).

    ``pipeline`` is the caller's (for its credential, and for look-ups);
    ``loop`` the event loop of an async caller, whose look-ups run on it.
    """
    guards = _guards_now()
    if not guards:
        return
    method, url = _request_parts(request)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or _is_ignored_host(host):
        return
    query = _query(url)
    path = _normalise_path(parts.path)
    call = _Call(pipeline, url, loop)
    if _is_management(pipeline, host, path, query):
        # Look-ups for this write go where the write goes: the caller's own endpoint and pipeline.
        if pipeline is not None:
            call.management = f"{parts.scheme}://{parts.netloc}"
        elif _is_mgmt_host(host):
            call.cloud = f"https://{host}"
        if _is_mgmt_write(method) and not path.lower().startswith("/metadata/"):
            try:
                body = _read_body(request)
            except _BodyError as exc:
                _Checks(guards, f"{method} {_resource_type(path)}", path, call).unknown(str(exc))
                return
            _check_management(guards, method, path, body, call)
        return
    if method in _READ_METHODS:
        return
    storage = _storage_pipeline(pipeline)
    comps = {c.lower() for c in parse_qs(parts.query).get("comp", [])}
    if method == "POST" and len(comps) == 1 and comps <= {"query", "userdelegationkey"}:
        return  # blob query and user-delegation keys read (an ambiguous comp is a write)
    comp = next(iter(comps)) if len(comps) == 1 else ",".join(sorted(comps))
    m = _STORAGE_HOST.match(host)
    emulator = False
    if m:
        account, service = m.group("account"), m.group("service")
    elif not storage and _IDENTITY_PATH.search(path):
        return
    elif is_loopback(host):
        emulator = True
        hm = _EMULATOR_HOST.match(host)
        if hm:
            account, service = hm.group("account"), hm.group("service")
        else:
            segs = [s for s in path.split("/") if s]
            if not segs:
                if not storage:
                    return
                segs = [""]
            account = segs[0].removesuffix("-secondary")
            service = _storage_service(pipeline, parts.port)
    elif storage:
        account, service = host, _storage_service(pipeline, None)
    else:
        return
    operation = f"{method} {service}" + (f" comp={comp}" if comp else "")
    call.cloud = management_endpoint_for(host)
    _Checks(guards, operation, _clean_url(url), call).account(account, None, emulator=emulator)


# --------------------------------------------------------------------------- SAS


def _check_sas(kind: str, account: str, permission: object, resource: str) -> None:
    guards = _guards_now()
    if not guards or not _sas_writes(permission):
        return
    operation = f"generate {kind} SAS with permission {str(permission) or '(stored policy)'!r}"
    _Checks(guards, operation, resource, _Call(None, "")).account(account, None)


def _sas_wrappers() -> Iterator[tuple[type[Any], str, Callable[..., Any]]]:
    """(class, method, wrapper) for every installed storage package's SAS generator."""
    import importlib

    modules = {
        "azure.storage.blob": ("BlobSharedAccessSignature", ("generate_blob", "generate_container")),
        "azure.storage.filedatalake": ("DataLakeSharedAccessSignature", ("generate_file", "generate_directory")),
        "azure.storage.queue": ("QueueSharedAccessSignature", ("generate_queue",)),
        "azure.storage.fileshare": ("FileSharedAccessSignature", ("generate_file", "generate_share")),
    }
    for package, (clsname, methods) in modules.items():
        try:
            mod = importlib.import_module(f"{package}._shared_access_signature")
            shared = importlib.import_module(f"{package}._shared.shared_access_signature")
        except ImportError:
            continue
        cls = getattr(mod, clsname, None)
        for meth in methods:
            original = cls.__dict__.get(meth) if cls is not None else None
            if cls is not None and original is not None:
                yield cls, meth, _wrap_sas(original, meth.removeprefix("generate_"))
        base = getattr(shared, "SharedAccessSignature", None)
        if base is not None and "generate_account" in base.__dict__:
            yield base, "generate_account", _wrap_sas(base.__dict__["generate_account"], "account")


def _wrap_sas(original: Callable[..., Any], kind: str) -> Callable[..., Any]:
    signature = inspect.signature(original)

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs).arguments
        except TypeError:
            return original(self, *args, **kwargs)  # the SDK will raise the same error
        account = str(self.account_name)
        names = [str(v) for k, v in bound.items() if k != "self" and k.endswith(("_name", "_path")) and v]
        _check_sas(kind, account, bound.get("permission"), "/".join([account, *names]))
        return original(self, *args, **kwargs)

    generate.__wrapped__ = original  # type: ignore[attr-defined]
    generate.__name__ = getattr(original, "__name__", "generate")
    return generate


# --------------------------------------------------------------------------- install

# Per pipeline run: the caller's pipeline and the (method, URL) already checked, so the
# transport hook re-checks only what a policy changed (redirects, host swaps).
_checked: contextvars.ContextVar[tuple[Any, set[tuple[str, str]]] | None] = contextvars.ContextVar(
    "residency_azure_checked", default=None
)


def _key(request: Any) -> tuple[str, str]:
    method, url = _request_parts(request)
    return method, _clean_url(url).lower()


def _patched_run(original: Callable[..., Any]) -> Callable[..., Any]:
    def run(self: Any, request: Any, **kwargs: Any) -> Any:
        check_request(self, request)
        token = _checked.set((self, {_key(request)}))
        try:
            return original(self, request, **kwargs)
        finally:
            _checked.reset(token)

    run.__wrapped__ = original  # type: ignore[attr-defined]
    return run


async def _check_async(pipeline: Any, request: Any) -> None:
    if not _guards_now():
        return
    method, url = _request_parts(request)
    if method in _READ_METHODS:
        check_request(pipeline, request)  # reads never look anything up
        return
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if _is_management(pipeline, host, _normalise_path(parts.path), _query(url)):
        await _materialize_async_body(request)
    # An account lookup is blocking network I/O: keep it off the event loop, which stays free to
    # run the caller's async credential and pipeline for it.
    await asyncio.to_thread(check_request, pipeline, request, asyncio.get_running_loop())


def _patched_async_run(original: Callable[..., Any]) -> Callable[..., Any]:
    async def run(self: Any, request: Any, **kwargs: Any) -> Any:
        await _check_async(self, request)
        token = _checked.set((self, {_key(request)}))
        try:
            return await original(self, request, **kwargs)
        finally:
            _checked.reset(token)

    run.__wrapped__ = original  # type: ignore[attr-defined]
    return run


def _patched_transport_send(original: Callable[..., Any]) -> Callable[..., Any]:
    def send(self: Any, request: Any) -> Any:
        state = _checked.get()
        http = request.http_request
        key = _key(http)
        if state is None or key not in state[1]:
            check_request(state[0] if state else None, http)
            if state is not None:
                state[1].add(key)
        return original(self, request)

    send.__wrapped__ = original  # type: ignore[attr-defined]
    return send


def _patched_async_transport_send(original: Callable[..., Any]) -> Callable[..., Any]:
    async def send(self: Any, request: Any) -> Any:
        state = _checked.get()
        http = request.http_request
        key = _key(http)
        if state is None or key not in state[1]:
            await _check_async(state[0] if state else None, http)
            if state is not None:
                state[1].add(key)
        return await original(self, request)

    send.__wrapped__ = original  # type: ignore[attr-defined]
    return send


def _transport_runners() -> Iterator[tuple[type[Any], Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    try:
        from azure.core.pipeline._base import _TransportRunner

        yield _TransportRunner, _patched_transport_send
    except ImportError:  # pragma: no cover - azure-core moved it; Pipeline.run still guards
        pass
    try:
        from azure.core.pipeline._base_async import _AsyncTransportRunner

        yield _AsyncTransportRunner, _patched_async_transport_send
    except ImportError:  # pragma: no cover
        pass


def _patch(cls: type[Any], meth: str, wrapper: Callable[..., Any]) -> None:
    key = f"{cls.__module__}.{cls.__qualname__}.{meth}"
    if key in _originals:
        return
    _originals[key] = (cls, meth, cls.__dict__[meth])
    setattr(cls, meth, wrapper)


def _hook() -> None:
    _patch(Pipeline, "run", _patched_run(Pipeline.__dict__["run"]))
    _patch(AsyncPipeline, "run", _patched_async_run(AsyncPipeline.__dict__["run"]))
    for cls, make in _transport_runners():
        _patch(cls, "send", make(cls.__dict__["send"]))
    for cls, meth, wrapper in _sas_wrappers():
        _patch(cls, meth, wrapper)


def _unhook() -> None:
    for key in list(_originals):
        cls, meth, original = _originals.pop(key)
        setattr(cls, meth, original)


def install(guard: Any) -> None:
    """Start checking Azure SDK requests against ``guard`` (idempotent)."""
    with _lock:
        if any(g is guard for g in _guards):
            return
        if not _guards:
            _hook()
        _guards.append(guard)


def uninstall(guard: Any) -> None:
    """Stop checking for ``guard``; the last one out restores azure-core."""
    with _lock:
        for i, g in enumerate(_guards):
            if g is guard:
                del _guards[i]
                break
        else:
            return
        if not _guards:
            _unhook()
