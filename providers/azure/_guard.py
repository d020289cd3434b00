"""The Azure storage guard: one hook on azure-core's pipeline, checked before sending.

Design
======

**Which clients.** Every Azure SDK client (management, Storage, Key Vault …)
sends through ``azure.core.pipeline.Pipeline.run`` (``AsyncPipeline.run`` for
``.aio`` clients). Storage clients ignore ``per_call_policies`` and build
their pipelines themselves, so adding a policy to clients cannot reach them
all; wrapping ``run`` on the two pipeline classes can, for clients created
before and after :func:`install`. The wrapper looks at the request *before*
the first policy runs (no header is signed, no byte is sent) and raises
:class:`residency.ResidencyViolation` in enforce mode. Uninstalling the last
guard restores the original methods.

**Management plane** (``management.azure.com`` and the sovereign clouds'
equivalents; on loopback, any request with an ``api-version`` query):
``PUT``/``PATCH``/``POST`` bodies are read as JSON and every location field is
checked: ``location`` and ``locationName`` at any depth (Cosmos DB
``locations[]``, failover policies), ``extendedLocation.name`` (edge zones:
unknown), ``*Location`` keys naming targets (``secondaryLocation``,
``targetLocation`` …) and a deployment parameter ``location: {value: …}``.
Template expressions (``"[resourceGroup().location]"``) are not locations and
are skipped. A storage account created or updated with a geo-redundant SKU
(GRS, RA-GRS, GZRS, RA-GZRS) also puts data in its paired region, which is
checked too (an unknown pair fails closed); a SKU change without a location
looks the account up. Storage ``objectReplicationPolicies`` naming a
destination account check that account's locations. SQL failover groups'
``partnerServers[].id`` are located with a ``GET`` through the caller's own
pipeline (async clients, or an unreadable partner: unknown, fails closed).

**Data plane** (``<account>.blob|dfs|queue|table|file.core.windows.net``, the
``-secondary``, ``privatelink`` and DNS-zone forms, and Azurite's path-style
``127.0.0.1:<port>/<account>/…``): a write to an account whose primary or
secondary location is outside the geography is blocked. Writes are every
method but ``GET``/``HEAD``/``OPTIONS``, except blob query (``comp=query``)
and user-delegation-key requests. The account's locations come from the
configured resolver (:mod:`._accounts`; default: the management API with the
caller's credential) and are cached for the guard's ``cache_ttl``. Emulator
(loopback) accounts are never looked up in Azure: they come from
``configure(account_locations=…)`` or ``RESIDENCY_AZURE_ACCOUNT_LOCATIONS``
(``"euacct=westeurope,grsacct=eastus/westus"``), else they fail closed.

**SAS.** Generating a SAS whose permissions can change data (anything but
read/list/filter) is a write capability: ``generate_blob_sas``,
``generate_container_sas`` and ``generate_account_sas`` (also the DataLake,
Queue and File Share variants when installed) are checked against the
account's locations, whatever name they were imported under (the hook is on
the signature classes they call).

**Ignored.** Identity endpoints (``login.microsoftonline.com`` …), the
instance metadata service, ARM's ``/metadata/endpoints``, and every host that
is neither management nor storage (Key Vault, Cosmos DB data plane …).

**Fail closed.** An account whose location cannot be learned (no resolver
answer, lookup error, a storage pipeline on an unrecognised host) is reported
as unknown, which blocks in enforce mode.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from azure.core.pipeline import AsyncPipeline, Pipeline

from residency._catalog import lookup_location

from ._accounts import (
    AccountCache,
    AccountLocations,
    AccountResolver,
    ArmAccountResolver,
    ChainedAccountResolver,
    StaticAccountResolver,
    geo_secondary,
)

__all__ = [
    "ENV_ACCOUNT_LOCATIONS",
    "account_cache",
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
    }
)
_IGNORED_HOST_SUFFIXES = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
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
_AZURITE_PORTS = {10000: "blob", 10001: "queue", 10002: "table"}
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MGMT_WRITE_METHODS = frozenset({"PUT", "PATCH", "POST"})
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
        "failoverregion",
    }
)
_STORAGE_ACCOUNT_PATH = re.compile(
    r"/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.storage/storageaccounts/(?P<name>[^/]+)"
    r"(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_RESOURCE_TYPE = re.compile(r"/providers/(?P<ns>[^/]+)/(?P<rest>.+)$", re.IGNORECASE)
# SAS permission letters that only read: read, list, filter (tags by filter), process is a write.
_SAS_READ_LETTERS = frozenset("rlf")


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

    def effective(self, *, emulator: bool = False) -> AccountResolver:
        """The resolver chain: ``configure(account_locations=…)``, the environment variable, then
        ``configure(resolver=…)`` or (not for emulator accounts, which Azure cannot know) the
        management API."""
        chain: list[AccountResolver] = [r for r in (self.static, self._env_resolver()) if r is not None]
        if self.resolver is not None:
            chain.append(self.resolver)
        elif not emulator:
            if self._default is None:
                self._default = ArmAccountResolver()
            chain.append(self._default)
        return chain[0] if len(chain) == 1 else ChainedAccountResolver(*chain)


_config = _Config()
_cache = AccountCache()


def configure(
    *,
    account_locations: dict[str, str | tuple[str, str | None]] | None = None,
    resolver: AccountResolver | None = None,
) -> None:
    """Tell the guard where storage accounts live.

    ``account_locations`` maps account names to a location or
    ``(primary, secondary)``; it is consulted first. ``resolver`` replaces the
    default management-API lookup (:class:`ArmAccountResolver`). Calling
    ``configure()`` with no arguments restores the defaults. The cache of
    resolved accounts is cleared either way.
    """
    with _lock:
        _config.static = StaticAccountResolver(account_locations) if account_locations else None
        _config.resolver = resolver
        _cache.clear()


def resolver() -> AccountResolver:
    """The account resolver the guard uses now."""
    return _config.effective()


def account_cache() -> AccountCache:
    return _cache


def installed_guards() -> tuple[Any, ...]:
    with _lock:
        return tuple(_guards)


# --------------------------------------------------------------------------- classification


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _request_parts(request: Any) -> tuple[str, str]:
    return str(getattr(request, "method", "GET")).upper(), str(getattr(request, "url", ""))


def _body(request: Any) -> Any:
    raw = None
    for attr in ("content", "body", "data"):
        try:
            raw = getattr(request, attr, None)
        except Exception:
            raw = None
        if raw is not None:
            break
    if isinstance(raw, (dict, list)):
        return raw
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", "replace")
    if isinstance(raw, str) and raw.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except ValueError:
            return None
    return None


def _storage_pipeline(pipeline: Any) -> bool:
    for p in getattr(pipeline, "_impl_policies", ()):
        inner = getattr(p, "_policy", p)
        if type(inner).__module__.startswith("azure.storage.") or "Storage" in type(inner).__name__:
            return True
    return False


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


# --------------------------------------------------------------------------- checks


def _guards_now() -> tuple[Any, ...]:
    with _lock:
        return tuple(_guards)


def _ttl(guards: tuple[Any, ...]) -> float:
    return min((float(getattr(g, "cache_ttl", 300.0)) for g in guards), default=300.0)


def _walk_locations(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """``(json path, location)`` for every location field in a request body."""
    if isinstance(node, dict):
        for k, v in node.items():
            key = str(k)
            sub = f"{path}.{key}" if path else key
            low = key.lower()
            if low in _LOCATION_KEYS:
                if isinstance(v, str):
                    if v.strip() and not v.strip().startswith("["):
                        yield sub, v
                    continue
                if isinstance(v, dict) and isinstance(v.get("value"), str) and low == "location":
                    if not v["value"].startswith("["):
                        yield f"{sub}.value", v["value"]
                    continue
            if low == "extendedlocation" and isinstance(v, dict) and isinstance(v.get("name"), str):
                yield f"{sub}.name", f"{v.get('type', 'extended')}:{v['name']}"
                continue
            yield from _walk_locations(v, sub)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_locations(v, f"{path}[{i}]")


def _resource_type(path: str) -> str:
    m = _RESOURCE_TYPE.search(path)
    if not m:
        if re.search(r"/resourcegroups/[^/]+$", path, re.IGNORECASE):
            return "Microsoft.Resources/resourceGroups"
        if re.match(r"^/subscriptions/[^/]+$", path, re.IGNORECASE):
            return "Microsoft.Resources/subscriptions"
        return "ARM"
    segs = m.group("rest").split("/")
    return "/".join([m.group("ns"), *segs[0::2]])


def _account_locations(
    account: str, credential: object | None, guards: tuple[Any, ...], *, emulator: bool = False
) -> AccountLocations | str:
    """The account's locations, or the reason they are unknown (any lookup failure fails closed)."""
    try:
        resolver = _config.effective(emulator=emulator)
        found = _cache.get(account, _ttl(guards), lambda: resolver.resolve(account, credential))
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


def _check_account(
    guards: tuple[Any, ...],
    operation: str,
    target: str,
    account: str,
    credential: object | None,
    *,
    emulator: bool = False,
) -> None:
    found = _account_locations(account, credential, guards, emulator=emulator)
    for g in guards:
        if isinstance(found, str):
            g.check_write(_PROVIDER, operation, target, None, unknown_reason=found)
            continue
        g.check_write(_PROVIDER, operation, target, found.primary)
        if found.secondary:
            g.check_write(
                _PROVIDER,
                operation,
                target,
                found.secondary,
                hint=f"{found.secondary} is the geo-redundant secondary of account {account!r}",
            )


def _walk_partners(node: Any) -> Iterator[str]:
    """Resource ids of SQL failover-group partners (``partnerServers[].id``) that carry no location."""
    if isinstance(node, dict):
        for k, v in node.items():
            if str(k).lower() == "partnerservers" and isinstance(v, list):
                for p in v:
                    if isinstance(p, dict) and isinstance(p.get("id"), str) and not p.get("location"):
                        yield p["id"]
            else:
                yield from _walk_partners(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk_partners(v)


def _partner_location(pipeline: Any, request_url: str, resource_id: str) -> str | None:
    """A partner resource's location, read with a ``GET`` through the caller's own pipeline."""
    from azure.core.rest import HttpRequest as _Get

    if pipeline is None or isinstance(pipeline, AsyncPipeline):
        return None
    parts = urlsplit(request_url)
    get = _Get("GET", f"{parts.scheme}://{parts.netloc}{resource_id}", params={"api-version": "2021-11-01"})
    response = pipeline.run(get).http_response
    if response.status_code >= 400:
        return None
    try:
        location = json.loads(response.text()).get("location")
    except (ValueError, AttributeError):
        return None
    return str(location) if location else None


def _check_management(
    guards: tuple[Any, ...], method: str, path: str, request: Any, credential: object | None, pipeline: Any = None
) -> None:
    body = _body(request)
    if body is None:
        return
    rtype = _resource_type(path)
    operation = f"{method} {rtype}"
    target = path
    locations = list(_walk_locations(body))
    for g in guards:
        for where, loc in locations:
            if ":" in loc:
                g.check_write(
                    _PROVIDER,
                    operation,
                    target,
                    None,
                    unknown_reason=f"{where} is the extended location {loc.split(':', 1)[1]!r}",
                )
            else:
                g.check_write(_PROVIDER, operation, target, loc)
    for partner in dict.fromkeys(_walk_partners(body)):
        try:
            found_at = _partner_location(pipeline, str(getattr(request, "url", "")), partner)
        except Exception as exc:
            found_at, why = None, f"reading partner {partner} failed: {type(exc).__name__}: {exc}"
        else:
            why = f"the location of partner {partner} could not be read"
        for g in guards:
            if found_at is None:
                g.check_write(_PROVIDER, operation, target, None, unknown_reason=why)
            else:
                g.check_write(
                    _PROVIDER, operation, target, found_at, hint=f"{found_at} is the location of partner {partner}"
                )
    m = _STORAGE_ACCOUNT_PATH.match(path)
    if not m or not isinstance(body, dict):
        return
    rest = (m.group("rest") or "").lower()
    if not rest:
        sku = body.get("sku") if isinstance(body.get("sku"), dict) else None
        sku_name = str(sku.get("name", "")) if sku else ""
        primary = body.get("location") if isinstance(body.get("location"), str) else None
        if primary is None and sku_name:
            found = _account_locations(m.group("name"), credential, guards)
            primary = found.primary if isinstance(found, AccountLocations) else None
            if primary is None:
                for g in guards:
                    g.check_write(_PROVIDER, operation, target, None, unknown_reason=str(found))
                return
        if primary is None:
            return
        secondary, geo = geo_secondary(primary, sku_name)
        if not geo:
            return
        for g in guards:
            if secondary is None:
                g.check_write(
                    _PROVIDER,
                    operation,
                    target,
                    None,
                    unknown_reason=f"SKU {sku_name} keeps a copy in the pair of {primary}, which is not known",
                )
            else:
                g.check_write(
                    _PROVIDER,
                    operation,
                    target,
                    lookup_location(_PROVIDER, secondary),
                    hint=f"SKU {sku_name} keeps a copy in {secondary}, the pair of {primary}",
                )
    elif rest.startswith("/objectreplicationpolicies/"):
        props = body.get("properties") if isinstance(body.get("properties"), dict) else {}
        dest = str((props or {}).get("destinationAccount") or "")
        if dest:
            name = dest.rstrip("/").rsplit("/", 1)[-1]
            _check_account(guards, operation, f"{target} (destination {name})", name, credential)


def check_request(pipeline: Any, request: Any) -> None:
    """Check one outgoing request against every installed guard (raises in enforce mode)."""
    guards = _guards_now()
    if not guards:
        return
    method, url = _request_parts(request)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or host == _IMDS or host.endswith(_IGNORED_HOST_SUFFIXES):
        return
    query = parse_qs(parts.query)
    path = parts.path
    if host in _MGMT_HOSTS or (_is_loopback(host) and "api-version" in query):
        if method in _MGMT_WRITE_METHODS and not path.startswith("/metadata/"):
            _check_management(guards, method, path, request, _caller_credential(pipeline), pipeline)
        return
    if method in _READ_METHODS:
        return
    comp = (query.get("comp") or [""])[0].lower()
    if method == "POST" and comp in ("query", "userdelegationkey"):
        return
    m = _STORAGE_HOST.match(host)
    emulator = False
    if m:
        account, service = m.group("account"), m.group("service")
    elif _is_loopback(host):
        emulator = True
        segs = [s for s in path.split("/") if s]
        if not segs:
            return
        account = segs[0].removesuffix("-secondary")
        service = _AZURITE_PORTS.get(parts.port or 0, "storage")
    elif _storage_pipeline(pipeline):
        account, service = host, "storage"
    else:
        return
    operation = f"{method} {service}" + (f" comp={comp}" if comp else "")
    _check_account(guards, operation, _clean_url(url), account, _caller_credential(pipeline), emulator=emulator)


# --------------------------------------------------------------------------- SAS


def _sas_writes(permission: object) -> bool:
    if permission is None:
        return True  # a stored access policy decides: assume it can write
    letters = set(str(permission).lower())
    return not letters <= _SAS_READ_LETTERS


def _check_sas(kind: str, account: str, permission: object, resource: str) -> None:
    guards = _guards_now()
    if not guards or not _sas_writes(permission):
        return
    operation = f"generate {kind} SAS with permission {str(permission) or '(stored policy)'!r}"
    _check_account(guards, operation, resource, account, None)


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
            original = getattr(cls, meth, None) if cls is not None else None
            if cls is not None and original is not None:
                yield cls, meth, _wrap_resource_sas(original, meth.removeprefix("generate_"))
        base = getattr(shared, "SharedAccessSignature", None)
        if base is not None and hasattr(base, "generate_account"):
            yield base, "generate_account", _wrap_account_sas(base.generate_account)


def _wrap_resource_sas(original: Callable[..., Any], kind: str) -> Callable[..., Any]:
    import inspect

    signature = inspect.signature(original)

    def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs).arguments
        except TypeError:
            return original(self, *args, **kwargs)
        names = [str(v) for k, v in bound.items() if k != "self" and k.endswith(("_name", "_path")) and v]
        account = str(self.account_name)
        _check_sas(kind, account, bound.get("permission"), "/".join([account, *names]))
        return original(self, *args, **kwargs)

    generate.__wrapped__ = original  # type: ignore[attr-defined]
    return generate


def _wrap_account_sas(original: Callable[..., Any]) -> Callable[..., Any]:
    def generate_account(self: Any, *args: Any, **kwargs: Any) -> Any:
        permission = kwargs.get("permission", args[2] if len(args) > 2 else None)
        account = str(self.account_name)
        _check_sas("account", account, permission, account)
        return original(self, *args, **kwargs)

    generate_account.__wrapped__ = original  # type: ignore[attr-defined]
    return generate_account


# --------------------------------------------------------------------------- install


def _patched_run(original: Callable[..., Any]) -> Callable[..., Any]:
    def run(self: Any, request: Any, **kwargs: Any) -> Any:
        check_request(self, request)
        return original(self, request, **kwargs)

    run.__wrapped__ = original  # type: ignore[attr-defined]
    return run


def _patched_async_run(original: Callable[..., Any]) -> Callable[..., Any]:
    async def run(self: Any, request: Any, **kwargs: Any) -> Any:
        if str(getattr(request, "method", "GET")).upper() in _READ_METHODS:
            check_request(self, request)  # reads never look anything up
        else:
            # An account lookup is blocking network I/O: keep it off the event loop.
            await asyncio.to_thread(check_request, self, request)
        return await original(self, request, **kwargs)

    run.__wrapped__ = original  # type: ignore[attr-defined]
    return run


def _hook() -> None:
    _originals["Pipeline.run"] = Pipeline.run
    _originals["AsyncPipeline.run"] = AsyncPipeline.run
    Pipeline.run = _patched_run(Pipeline.run)  # type: ignore[method-assign]
    AsyncPipeline.run = _patched_async_run(AsyncPipeline.run)  # type: ignore[method-assign]
    for cls, meth, wrapper in _sas_wrappers():
        key = f"{cls.__module__}.{cls.__qualname__}.{meth}"
        if key in _originals:
            continue
        _originals[key] = (cls, meth, cls.__dict__[meth])
        setattr(cls, meth, wrapper)


def _unhook() -> None:
    Pipeline.run = _originals.pop("Pipeline.run")  # type: ignore[method-assign]
    AsyncPipeline.run = _originals.pop("AsyncPipeline.run")  # type: ignore[method-assign]
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
