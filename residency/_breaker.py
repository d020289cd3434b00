"""A circuit breaker for scans: stop asking an endpoint that keeps failing to answer.

A scan of 2,000 buckets against an endpoint that died would otherwise wait out
2,000 timeouts (each with its retries) and report 2,000 copies of the same
failure. Adapters tell the breaker about each API call: it got an answer
(:meth:`CircuitBreaker.success`, an error response included) or it could not
reach the endpoint (:meth:`CircuitBreaker.failure`, with the kind of failure:
connection refused, timeout …). After ``threshold`` consecutive failures of the
same kind the endpoint's circuit **opens** (:meth:`CircuitBreaker.check` then
says why) and stays open for the rest of the scan: the adapter asks nothing more
of it and turns what it did not ask into findings whose ``error`` starts with
:data:`NOT_ASKED`. A resource whose known part is already a violation stays a
violation; the ``unknown`` ones are folded by :meth:`CircuitBreaker.fold` into
one ``scope_gap`` finding per provider, account, service and cause, which names
every resource or scope it stands for (``covers``).

>>> b = CircuitBreaker(threshold=2)
>>> b.failure("http://127.0.0.1:9", "EndpointConnectionError", "connection refused")
>>> b.check("http://127.0.0.1:9")
''
>>> b.failure("http://127.0.0.1:9", "EndpointConnectionError", "connection refused")
>>> b.check("http://127.0.0.1:9")
'http://127.0.0.1:9 unreachable after 2 consecutive EndpointConnectionError (connection refused)'
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from ._findings import Finding, unreadable

__all__ = ["DEFAULT_THRESHOLD", "NOT_ASKED", "CircuitBreaker"]

#: consecutive failed calls (each after the SDK's own bounded retries) that open a circuit
DEFAULT_THRESHOLD = 5

#: how the ``error`` of something not asked because its endpoint's circuit is open begins
NOT_ASKED = "not asked, endpoint given up"


class CircuitBreaker:
    """Consecutive failures of one kind per endpoint; an endpoint's circuit opens at ``threshold``.

    Thread-safe: every worker of a scan shares one breaker.
    """

    def __init__(self, *, threshold: int = DEFAULT_THRESHOLD) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.threshold = threshold
        self._lock = threading.Lock()
        self._state: dict[str, tuple[str, int]] = {}
        self._open: dict[str, str] = {}

    def check(self, endpoint: str) -> str:
        """``""`` while ``endpoint`` may be asked; once its circuit is open, why."""
        return self._open.get(endpoint, "")

    def not_asked(self, endpoint: str) -> str:
        """The ``error`` text for something not asked of ``endpoint`` (its circuit is open)."""
        return f"{NOT_ASKED}: {self.check(endpoint)}"

    @property
    def opened(self) -> list[str]:
        """Why each endpoint given up on was given up on."""
        with self._lock:
            return list(self._open.values())

    def success(self, endpoint: str) -> None:
        """A call got an answer (any answer, an error response included): the endpoint is alive."""
        with self._lock:
            self._state.pop(endpoint, None)

    def failure(self, endpoint: str, kind: str, detail: str) -> None:
        """A call could not reach ``endpoint`` (``kind``: the exception's class name)."""
        with self._lock:
            if endpoint in self._open:
                return
            last, count = self._state.get(endpoint, ("", 0))
            count = count + 1 if kind == last else 1
            self._state[endpoint] = (kind, count)
            if count >= self.threshold:
                self._open[endpoint] = f"{endpoint} unreachable after {count} consecutive {kind} ({detail})"

    def fold(self, findings: Iterable[Finding]) -> Iterator[Finding]:
        """Pass ``findings`` through, folding the unknowns whose ``error`` has :data:`NOT_ASKED` into one per cause.

        The folded findings come last: one ``scope_gap`` unknown per provider,
        account, service and cause, ``covers`` listing what it stands for (a
        resource id, or a scope such as ``arn:aws:dynamodb:us-east-1:…:*``).
        """
        folded: dict[tuple[str, str, str, str], list[Finding]] = {}
        for f in findings:
            if f.status == "unknown" and f.error and NOT_ASKED in f.error:
                cause = f.error[f.error.index(NOT_ASKED) :]
                folded.setdefault((f.provider, f.account, f.service, cause), []).append(f)
                continue
            yield f
        for (provider, account, service, error), items in folded.items():
            covers = sorted({c for f in items for c in (f.covers or (f.resource_id,))})
            yield unreadable(
                provider=provider,
                account=account,
                service=service,
                resource_type="scope",
                resource_id=f"{provider}:{account}:{service}:not-read",
                name=f"{len(covers):,} {service} resource(s) or scope(s) not read",
                error=f"{len(covers):,} not read: {error.removeprefix(NOT_ASKED + ': ')}; the scan stopped asking",
                policy=items[0].policy,
                scope_gap=True,
                covers=covers,
            )
