"""``residency scan gcp``: every place a Google Cloud project's data lands.

Reached through ``load_provider("gcp").scan(context)``. Talks REST over a
google-auth ``AuthorizedSession`` (application default credentials unless the
context brings a session), so it needs no client library beyond
google-cloud-storage's own dependencies.

Two sources (``context.options["source"]``):

``storage`` (default)
    Projects from ``--projects`` (``context.accounts``) or every project the
    identity can list (Cloud Resource Manager ``projects:search``). Per
    project, on a bounded thread pool (``context.concurrency``): Cloud
    Storage buckets (``buckets.list``; one call per 1000 buckets) and, with
    the ``bigquery`` service, BigQuery datasets (``datasets.list``). Each
    bucket is placed in every location its data lands: a region; a
    multi-region (``EU`` is inside the EU, ``US`` and ``ASIA`` are not); a
    predefined dual-region expanded to its two regions (``EUR4`` =
    europe-north1 + europe-west4); a custom dual-region's
    ``customPlacementConfig.dataLocations``. A bucket without a location is
    in ``US``, where Cloud Storage puts it.
``asset-inventory``
    Cloud Asset Inventory ``searchAllResources`` over ``context.options["scope"]``
    (``organizations/123``, ``folders/456`` or ``projects/p``; default: each
    project of ``--projects``): every resource type that has a location, not
    only buckets — BigQuery datasets, disks, instances (zones are placed in
    their region), databases … (``--services`` takes asset types, regular
    expressions allowed). Buckets are placed like the storage source
    (``eur4`` expanded); one whose reported location is a multi-region is read
    once more from Cloud Storage, because a custom dual-region is reported as
    its multi-region — if that read fails, a bucket the multi-region alone
    would pass is ``unknown`` (it could be a dual-region with London), never
    compliant. Resources with no location or ``global`` are counted in the
    notes, not judged.

Anything unreadable (a project without permission, an API that fails or
answers nonsense, a listing that breaks off after some pages) is an
``unknown`` finding with the reason, next to whatever was read before; a
project where the BigQuery API is not enabled has no datasets and is only
noted. Projects listed but not ``ACTIVE`` (pending deletion) are named in the
notes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any
from urllib.parse import quote, urlsplit

import attrs
import google.auth
import google.auth.exceptions
from google.auth.credentials import AnonymousCredentials
from google.auth.transport.requests import AuthorizedSession

from residency._breaker import DEFAULT_THRESHOLD, CircuitBreaker
from residency._catalog import Location
from residency._errors import ProviderError
from residency._findings import Finding, evaluate, unreadable
from residency._net import is_loopback
from residency._scan import ScanContext

from ._guard import location_from_metadata, region_of

__all__ = ["SERVICES", "SOURCES", "bucket_placements", "scan"]

#: services the per-project source covers (``--services``)
SERVICES = ("storage", "bigquery")
#: where the inventory comes from (``--source``)
SOURCES = ("storage", "asset-inventory")

_STORAGE = "https://storage.googleapis.com"
_CRM = "https://cloudresourcemanager.googleapis.com"
_ASSET = "https://cloudasset.googleapis.com"
_BIGQUERY = "https://bigquery.googleapis.com"
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform.read-only"]
_MULTI_REGIONS = frozenset({"us", "eu", "asia"})
_BUCKET_ASSET = "storage.googleapis.com/Bucket"


class _HttpError(Exception):
    def __init__(self, status: int, message: str, reason: str = "") -> None:
        self.status = status
        self.reason = reason
        super().__init__((f"HTTP {status}: {message}" if message else f"HTTP {status}") if status else message)


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    return is_loopback(urlsplit(url if "://" in url else "http://" + url).hostname or "")


@attrs.define
class _Endpoints:
    storage: str
    crm: str
    asset: str
    bigquery: str

    @classmethod
    def for_context(cls, ctx: ScanContext) -> _Endpoints:
        if ctx.endpoint_url:
            base = ctx.endpoint_url.rstrip("/")
            return cls(base, base, base, base)
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        storage = (emulator if "://" in emulator else "http://" + emulator).rstrip("/") if emulator else _STORAGE
        return cls(storage, _CRM, _ASSET, _BIGQUERY)


def _session(ctx: ScanContext, endpoints: _Endpoints) -> Any:
    if ctx.session is not None:
        return ctx.session
    if _is_loopback(endpoints.storage) and _is_loopback(endpoints.crm):
        return AuthorizedSession(AnonymousCredentials())  # type: ignore[no-untyped-call]
    try:
        credentials, _ = google.auth.default(scopes=_SCOPES)
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise ProviderError(
            "no Google Cloud credentials: run 'gcloud auth application-default login' or set "
            f"GOOGLE_APPLICATION_CREDENTIALS ({exc})"
        ) from exc
    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]


def _get(session: Any, url: str, params: Mapping[str, str | list[str]] | None = None) -> dict[str, Any]:
    try:
        response = session.request("GET", url, params=dict(params or {}), timeout=60)
    except Exception as exc:
        raise _HttpError(0, f"{type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        message, reason = "", ""
        try:
            err = response.json().get("error", {})
            message = str(err.get("message", ""))
            reason = str((err.get("errors") or [{}])[0].get("reason", "") or err.get("status", ""))
            for detail in err.get("details") or ():
                reason = str(detail.get("reason") or reason)
        except (ValueError, AttributeError):
            message = response.text[:200]
        raise _HttpError(response.status_code, message, reason)
    try:
        data = response.json()
    except ValueError as exc:
        raise _HttpError(response.status_code, f"unreadable answer from {url}: {exc}") from exc
    if not isinstance(data, dict):
        raise _HttpError(response.status_code, f"unexpected answer from {url}: not a JSON object")
    return data


def _pages(session: Any, url: str, key: str, params: Mapping[str, str | list[str]]) -> Iterator[dict[str, Any]]:
    token = ""
    while True:
        page = _get(session, url, {**params, **({"pageToken": token} if token else {})})
        yield from page.get(key) or ()
        token = str(page.get("nextPageToken") or "")
        if not token:
            return


# --------------------------------------------------------------------------- placements


def bucket_placements(meta: Mapping[str, Any]) -> list[tuple[Location, str]]:
    """Every ``(location, role)`` a bucket's data lands in, from its JSON resource.

    >>> [(loc.code, role) for loc, role in bucket_placements({"location": "EUR8", "locationType": "dual-region"})]
    [('europe-west3', 'dual-region EUR8'), ('europe-west6', 'dual-region EUR8')]
    >>> [(loc.code, role) for loc, role in bucket_placements({})]
    [('US', 'bucket (no location: US)')]
    """
    loc = location_from_metadata(meta)
    if not meta.get("location"):
        return [(loc, "bucket (no location: US)")]
    if loc.kind == "dual-region" and loc.members:
        role = f"dual-region {loc.code}" if loc.source != "members" else "custom dual-region"
        return [(region_of(m), role) for m in loc.members]
    return [(loc, "bucket" if loc.kind == "region" else f"bucket ({loc.kind})")]


class _Watched:
    """A session whose requests report to a :class:`CircuitBreaker` per host, and stop once it opens."""

    def __init__(self, session: Any, breaker: CircuitBreaker) -> None:
        self.session = session
        self.breaker = breaker

    def request(self, method: str, url: str, **kw: Any) -> Any:
        import requests

        host = urlsplit(url).netloc
        if self.breaker.check(host):
            raise _HttpError(0, self.breaker.not_asked(host))
        try:
            response = self.session.request(method, url, **kw)
        except (requests.ConnectionError, requests.Timeout) as exc:
            self.breaker.failure(host, type(exc).__name__, str(exc).split(":", 1)[0][:120])
            raise
        self.breaker.success(host)
        return response


# --------------------------------------------------------------------------- the scanner


class _Scanner:
    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.policy = ctx.policy
        self.source = str(ctx.options.get("source") or "storage")
        if self.source not in SOURCES:
            raise ProviderError(f"unknown gcp source {self.source!r}; expected one of {', '.join(SOURCES)}")
        unknown = set(ctx.services or ()) - set(SERVICES)
        if unknown and self.source == "storage":
            raise ProviderError(f"unknown gcp service(s) {', '.join(sorted(unknown))}; expected {', '.join(SERVICES)}")
        self.services = set(ctx.services or SERVICES)
        self.endpoints = _Endpoints.for_context(ctx)
        self.breaker = CircuitBreaker(threshold=int(ctx.options.get("breaker_threshold", DEFAULT_THRESHOLD)))
        self.session = _Watched(_session(ctx, self.endpoints), self.breaker)

    def finding(
        self,
        project: str,
        service: str,
        resource_type: str,
        resource_id: str,
        placements: Iterable[tuple[Location, str]],
        *,
        labels: Mapping[str, str] | None = None,
        region: str = "",
        name: str = "",
        unread: Sequence[str] = (),
    ) -> Finding:
        return evaluate(
            self.policy,
            provider="gcp",
            account=project,
            service=service,
            resource_type=resource_type,
            resource_id=resource_id,
            placements=list(placements),
            tags=dict(labels or {}),
            region=region,
            name=name,
            today=self.ctx.today,
            unread=unread,
        )

    def gap(self, project: str, service: str, what: str, exc: BaseException) -> Finding:
        return unreadable(
            provider="gcp",
            account=project,
            service=service,
            resource_type=what,
            resource_id=f"projects/{project}" if project else what,
            error=str(exc),
            policy=self.policy.name,
            scope_gap=bool(project),
        )

    def projects(self) -> list[str]:
        if self.ctx.accounts:
            return list(dict.fromkeys(self.ctx.accounts))
        try:
            listed = list(_pages(self.session, f"{self.endpoints.crm}/v3/projects:search", "projects", {}))
        except _HttpError as exc:
            raise ProviderError(f"cannot list Google Cloud projects ({exc}); name them with --projects") from exc
        found = [str(p["projectId"]) for p in listed if p.get("state", "ACTIVE") == "ACTIVE" and p.get("projectId")]
        inactive = [f"{p.get('projectId')} ({p.get('state')})" for p in listed if p.get("state", "ACTIVE") != "ACTIVE"]
        if inactive:
            self.ctx.notes.append(f"gcp: {len(inactive)} project(s) not ACTIVE, not scanned: {', '.join(inactive)}")
        if not found:
            raise ProviderError("the credentials can list no Google Cloud project; name them with --projects")
        return found

    # ---- per-project source

    def buckets(self, project: str) -> list[Finding]:
        out = []
        url = f"{self.endpoints.storage}/storage/v1/b"
        params: dict[str, str | list[str]] = {
            "project": project,
            "maxResults": "1000",
            "fields": "items(name,location,locationType,customPlacementConfig,labels),nextPageToken",
        }
        try:
            for meta in _pages(self.session, url, "items", params):
                name = str(meta.get("name", ""))
                out.append(
                    self.finding(
                        project,
                        "storage",
                        "bucket",
                        f"gs://{name}",
                        bucket_placements(meta),
                        labels=meta.get("labels"),
                        region=str(meta.get("location", "")).lower(),
                        name=name,
                    )
                )
        except _HttpError as exc:
            if not out:
                raise
            out.append(
                self.gap(project, "storage", "buckets", _HttpError(exc.status, f"after {len(out)} buckets: {exc}"))
            )
        return out

    def datasets(self, project: str) -> list[Finding]:
        url = f"{self.endpoints.bigquery}/bigquery/v2/projects/{quote(project, safe='')}/datasets"
        try:
            items = list(_pages(self.session, url, "datasets", {"all": "true", "maxResults": "1000"}))
        except _HttpError as exc:
            if exc.status == 403 and exc.reason in ("accessNotConfigured", "SERVICE_DISABLED"):
                self.ctx.notes.append(f"gcp {project}: BigQuery API not enabled, no datasets")
                return []
            raise
        out = []
        for ds in items:
            ref = ds.get("datasetReference") or {}
            ident = f"{ref.get('projectId', project)}:{ref.get('datasetId', '')}"
            loc = region_of(str(ds.get("location") or ""))
            out.append(
                self.finding(
                    project,
                    "bigquery",
                    "dataset",
                    ident,
                    [(loc, "dataset")],
                    labels=ds.get("labels"),
                    region=loc.code,
                    name=str(ref.get("datasetId", "")),
                )
            )
        return out

    def units(
        self, projects: list[str]
    ) -> list[tuple[str, Callable[[], list[Finding]], Callable[[BaseException], Finding]]]:
        units: list[tuple[str, Callable[[], list[Finding]], Callable[[BaseException], Finding]]] = []
        for p in projects:
            if "storage" in self.services:
                units.append(
                    (
                        f"{p} storage",
                        lambda p=p: self.buckets(p),  # type: ignore[misc]
                        lambda e, p=p: self.gap(p, "storage", "buckets", e),  # type: ignore[misc]
                    )
                )
            if "bigquery" in self.services:
                units.append(
                    (
                        f"{p} bigquery",
                        lambda p=p: self.datasets(p),  # type: ignore[misc]
                        lambda e, p=p: self.gap(p, "bigquery", "datasets", e),  # type: ignore[misc]
                    )
                )
        return units

    # ---- asset inventory source

    def scopes(self) -> list[str]:
        scope = self.ctx.options.get("scope")
        if scope:
            return [str(scope)]
        if self.ctx.accounts:
            return [f"projects/{p}" for p in self.ctx.accounts]
        raise ProviderError(
            "--source asset-inventory needs a scope: --scope organizations/ID, folders/ID or projects/ID "
            "(or --projects)"
        )

    def assets(self, scope: str) -> list[Finding]:
        url = f"{self.endpoints.asset}/v1/{scope}:searchAllResources"
        params: dict[str, str | list[str]] = {
            "pageSize": "500",
            "readMask": "name,assetType,project,location,labels,displayName",
        }
        if self.ctx.services:
            params["assetTypes"] = list(self.ctx.services)  # a repeated parameter: assetTypes=a&assetTypes=b
        out: list[Finding] = []
        skipped = 0
        try:
            for r in _pages(self.session, url, "results", params):
                code = str(r.get("location") or "").strip().lower()
                if not code or code == "global":
                    skipped += 1
                    continue
                out.append(self._asset(scope, r, code))
        except _HttpError as exc:
            if not out:
                raise
            out.append(self.gap("", "cloudasset", scope, _HttpError(exc.status, f"after {len(out)} resources: {exc}")))
        if skipped:
            self.ctx.notes.append(f"gcp {scope}: {skipped} resource(s) with no location or 'global' not judged")
        return out

    def _asset(self, scope: str, r: Mapping[str, Any], code: str) -> Finding:
        asset_type = str(r.get("assetType", ""))
        service = asset_type.split("/", 1)[0].removesuffix(".googleapis.com")
        resource_type = asset_type.rsplit("/", 1)[-1].lower()
        project = str(r.get("project") or scope).removeprefix("projects/")
        name = str(r.get("name", ""))
        short = name.rsplit("/", 1)[-1]
        display = str(r.get("displayName") or short)
        labels = r.get("labels")

        def found(placements: list[tuple[Location, str]], unread: Sequence[str] = ()) -> Finding:
            return self.finding(
                project,
                service,
                resource_type,
                name,
                placements,
                labels=labels,
                region=code,
                name=display,
                unread=unread,
            )

        if asset_type != _BUCKET_ASSET:
            return found([(region_of(code), resource_type)])
        placements = bucket_placements({"location": code})
        if code not in _MULTI_REGIONS:
            return found(placements)
        try:
            meta = _get(self.session, f"{self.endpoints.storage}/storage/v1/b/{quote(short, safe='')}")
        except _HttpError as exc:
            # A custom dual-region is reported as its multi-region: without its dataLocations the bucket
            # may hold data outside (EU + London). Known stays known: a multi-region outside is a violation.
            why = f"multi-region {code.upper()}: custom dual-region placement not readable ({exc})"
            return found(placements, unread=[why])
        return found(bucket_placements(meta))


def scan(ctx: ScanContext) -> Iterator[Finding]:
    """Yield a finding for every located resource (and every unreadable part) of the Google Cloud scope in ``ctx``."""
    scanner = _Scanner(ctx)
    if ctx.regions:
        ctx.notes.append("gcp: --regions does not apply; every location is scanned")
    units: list[tuple[str, Callable[[], list[Finding]], Callable[[BaseException], Finding]]]
    if scanner.source == "asset-inventory":
        scopes = scanner.scopes()
        ctx.accounts_scanned.extend(scopes)
        units = [
            (s, lambda s=s: scanner.assets(s), lambda e, s=s: scanner.gap("", "cloudasset", s, e))  # type: ignore[misc]
            for s in scopes
        ]
    else:
        projects = scanner.projects()  # raises ProviderError before anything is yielded
        ctx.accounts_scanned.extend(projects)
        units = scanner.units(projects)
    return _folded(scanner, _run(units, ctx.concurrency, ctx.progress))


def _folded(scanner: _Scanner, findings: Iterator[Finding]) -> Iterator[Finding]:
    """What was not asked of a host given up on becomes one finding per project and service."""
    yield from scanner.breaker.fold(findings)
    for why in scanner.breaker.opened:
        scanner.ctx.notes.append(f"gcp: stopped asking early: {why}; what was read is reported, the rest is unknown")


def _run(
    units: list[tuple[str, Callable[[], list[Finding]], Callable[[BaseException], Finding]]],
    concurrency: int,
    progress: Callable[[int, int, str], None] | None,
) -> Iterator[Finding]:
    total = len(units)
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, total or 1)), thread_name_prefix="gcp-scan") as pool:
        futures: dict[Future[list[Finding]], tuple[str, Callable[[BaseException], Finding]]] = {
            pool.submit(work): (label, on_error) for label, work, on_error in units
        }
        for done, fut in enumerate(as_completed(futures), start=1):
            label, on_error = futures[fut]
            try:
                found = fut.result()
            except _HttpError as exc:
                found = [on_error(exc)]
            except Exception as exc:  # a bug or an odd answer must not hide a project: report it unknown
                found = [on_error(_HttpError(0, f"{type(exc).__name__}: {exc}"))]
            if progress is not None:
                progress(done, total, label)
            yield from found
