"""The storage guard: stop out-of-geography writes inside the application.

::

    import residency

    with residency.guard(policy="eu"):
        s3.put_object(Bucket="us-bucket", Key="k", Body=b"...")   # raises ResidencyViolation

    g = residency.guard(policy="eea-ch", mode="audit", on_violation=alert)
    g.install()      # same object, explicit lifecycle; installing twice is harmless
    ...
    g.uninstall()    # restores every hook

The guard itself is provider-agnostic: it holds the policy, the mode and the
callback, and turns a target's location into allow / block / log. The provider
adapters (``residency.providers.aws`` …) hook their SDK's write paths and ask
the active guards through :meth:`Guard.check_write` before any byte is sent.

Fail closed: when an adapter cannot learn where a target lives it calls
:meth:`Guard.check_write` with ``location=None`` and the reason; in enforce mode
that blocks.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

from ._catalog import Location
from ._errors import ProviderError, ResidencyViolation
from ._policy import Decision, Policy, load_policy
from ._registry import PROVIDER_SDKS, load_provider

__all__ = ["Guard", "Mode", "active_guards", "guard", "strict_json"]

Mode = Literal["enforce", "audit"]
logger = logging.getLogger("residency")

_lock = threading.RLock()
_active: list[Guard] = []
# Per thread: whether an on_violation callback is running.
_callback_state = threading.local()


def active_guards() -> tuple[Guard, ...]:
    """The guards installed right now, oldest first."""
    with _lock:
        return tuple(_active)


class Guard:
    """A policy applied to SDK writes in this process. Create it with :func:`guard`."""

    def __init__(
        self,
        policy: str | Policy = "eu",
        *,
        mode: Mode = "enforce",
        on_violation: Callable[[ResidencyViolation], object] | None = None,
        providers: Iterable[str] | None = None,
        cache_ttl: float = 300.0,
    ) -> None:
        if mode not in ("enforce", "audit"):
            raise ValueError(f"mode must be 'enforce' or 'audit', got {mode!r}")
        self.policy = load_policy(policy)
        self.mode: Mode = mode
        self.on_violation = on_violation
        self.cache_ttl = cache_ttl
        self._providers = tuple(providers) if providers is not None else None
        self._installed: list[str] = []
        self.skipped: dict[str, str] = {}

    def __repr__(self) -> str:
        state = "installed" if self.installed else "not installed"
        return f"<Guard policy={self.policy.name!r} mode={self.mode!r} {state}>"

    @property
    def installed(self) -> bool:
        return self in active_guards()

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers whose SDK writes this guard is checking."""
        return tuple(self._installed)

    def install(self) -> Guard:
        """Hook every installed SDK (or those named). Calling it twice is harmless."""
        with _lock:
            if self in _active:
                return self
            names = self._providers if self._providers is not None else tuple(PROVIDER_SDKS)
            done: list[str] = []
            try:
                for name in names:
                    try:
                        adapter = load_provider(name)
                    except ProviderError as exc:
                        if self._providers is not None:
                            raise
                        self.skipped[name] = str(exc)
                        continue
                    adapter.install_guard(self)
                    done.append(name)
            except BaseException:
                for name in done:
                    load_provider(name).uninstall_guard(self)
                raise
            self._installed = done
            _active.append(self)
        return self

    def uninstall(self) -> None:
        """Remove this guard's hooks; safe to call when not installed."""
        with _lock:
            if self not in _active:
                return
            _active.remove(self)
            for name in self._installed:
                load_provider(name).uninstall_guard(self)
            self._installed = []

    def __enter__(self) -> Guard:
        return self.install()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.uninstall()

    def decide(
        self,
        provider: str,
        location: str | Location | None,
        *,
        target: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Decision:
        """The policy's decision for a write to ``location`` (no side effects)."""
        return self.policy.check(provider, location, resource=target, tags=tags)

    def check_write(
        self,
        provider: str,
        operation: str,
        target: str,
        location: str | Location | None,
        *,
        unknown_reason: str | None = None,
        hint: str | None = None,
        tags: Mapping[str, str] | None = None,
        resources: Sequence[str] = (),
    ) -> Decision | None:
        """Check one write; raise (enforce) or log (audit) if it leaves the geography.

        ``location=None`` with ``unknown_reason`` means the adapter could not learn
        where ``target`` lives: the write is treated as unknown and blocked in
        enforce mode (fail closed) unless a waiver for the resource or
        ``unknown_locations: allow`` applies.
        ``hint`` (how to fix the call, e.g. which region to configure) is
        appended to the reason of a violation. ``resources`` are other names of
        the target that waivers may use (``arn:aws:s3:::bucket`` for
        ``s3://bucket``). Returns the decision when one was made.
        """
        if location is None:
            # A waiver naming this resource still applies to an unknown location.
            decision = self._decide_any(provider, None, target, resources, tags)
            if decision.allowed:
                return decision
            reason = (
                f"cannot establish where {target} stores data ({unknown_reason or 'no location'}); "
                f"blocked because unknown locations are denied (policy '{self.policy.name}')"
            )
            if self.policy.unknown_locations == "allow":
                return None
            loc_code: str | None = None
            countries: tuple[str, ...] = ()
        else:
            decision = self._decide_any(provider, location, target, resources, tags)
            if decision.allowed:
                return decision
            reason = decision.reason
            loc_code = decision.location.code
            countries = decision.location.countries
        if hint:
            reason = f"{reason}; {hint}"
        violation = ResidencyViolation(provider, operation, target, loc_code, countries, self.policy.name, reason)
        self._report(violation)
        return decision

    def _decide_any(
        self,
        provider: str,
        location: str | Location | None,
        target: str,
        resources: Sequence[str],
        tags: Mapping[str, str] | None,
    ) -> Decision:
        decision = self.decide(provider, location, target=target, tags=tags)
        for name in resources:
            if decision.allowed:
                break
            other = self.decide(provider, location, target=name, tags=tags)
            if other.allowed:
                decision = other
        return decision

    def check_global_service(self, provider: str, operation: str, service: str) -> None:
        """Global control-plane calls (IAM, STS …) pass unless the policy denies them."""
        if self.policy.allows_global_services:
            return
        reason = (
            f"{service} is a global service with no fixed location; global services are "
            f"denied (policy '{self.policy.name}')"
        )
        self._report(ResidencyViolation(provider, operation, service, "global", (), self.policy.name, reason))

    def _report(self, violation: ResidencyViolation) -> None:
        if self.on_violation is not None and not getattr(_callback_state, "active", False):
            # A failing callback never changes the outcome (blocked in enforce
            # mode, let through in audit mode); a write the callback itself makes
            # is checked like any other but not reported back to it (no recursion).
            _callback_state.active = True
            try:
                self.on_violation(violation)
            except Exception:
                logger.exception("residency: on_violation callback failed for: %s", violation)
            finally:
                _callback_state.active = False
        if self.mode == "audit":
            logger.warning(
                "residency audit: %s",
                violation,
                extra={
                    "residency_provider": violation.provider,
                    "residency_operation": violation.operation,
                    "residency_target": violation.target,
                    "residency_location": violation.location,
                    "residency_countries": violation.countries,
                    "residency_policy": violation.policy,
                },
            )
            return
        raise violation


def guard(
    policy: str | Policy = "eu",
    *,
    mode: Mode = "enforce",
    on_violation: Callable[[ResidencyViolation], object] | None = None,
    providers: Iterable[str] | None = None,
    cache_ttl: float = 300.0,
) -> Guard:
    """Create a :class:`Guard`; use it as a context manager or call ``install()``.

    ``policy`` is a built-in name (``eu``, ``eea``, ``eea-ch``), a path to a
    policy file, or a loaded :class:`Policy`. ``mode="audit"`` lets writes
    through and logs a WARNING on the ``residency`` logger instead of raising;
    ``on_violation`` is called with each :class:`ResidencyViolation` in both
    modes. ``providers`` limits which SDKs are hooked (default: every one that
    is installed). ``cache_ttl`` is how long a looked-up bucket/account location
    is trusted, in seconds.
    """
    return Guard(policy, mode=mode, on_violation=on_violation, providers=providers, cache_ttl=cache_ttl)


def strict_json(text: str | bytes, error: type[ValueError] = ValueError) -> Any:
    """Parse a request body the way a guard must: a key given twice is refused.

    Which of two ``"location"`` keys a cloud API honours is not defined, so a
    guard that read one while the service used the other could be walked
    around; ``error`` (the provider's fail-closed exception) is raised instead.
    Malformed JSON raises :class:`ValueError` as :func:`json.loads` does.

    >>> strict_json('{"location": "westeurope"}')
    {'location': 'westeurope'}
    >>> strict_json('{"location": "westeurope", "location": "eastus"}')
    Traceback (most recent call last):
    ...
    ValueError: the body repeats the key 'location' (which one the service uses is not defined)
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise error(f"the body repeats the key {key!r} (which one the service uses is not defined)")
            out[key] = value
        return out

    return json.loads(text, object_pairs_hook=pairs)
