"""pytest plugin: make out-of-geography writes fail the tests.

Installed with eu-residency (entry point ``pytest11``: ``residency``). Three
surfaces, one guard:

``residency_guard`` fixture
    the :class:`residency.Guard` active for the test, always torn down (every
    hook restored) even when the test fails.
``@pytest.mark.residency(policy="eea-ch", mode="enforce")``
    configures that guard for one test (or a class/module via ``pytestmark``)
    and activates it without naming the fixture.
``--residency-policy NAME`` (and ``--residency-mode``)
    guards every test in the run.

Precedence, most specific first: the marker's ``policy``/``mode``, then the
command-line options, then the defaults (``eu``, ``enforce``). A test is
guarded when it uses the fixture, carries the marker, or the run was started
with ``--residency-policy``; otherwise the plugin does nothing.

The guard is set up after the test's other fixtures, so fixtures may create
the out-of-geography resources a test needs; the test body is guarded. A
blocked write raises :class:`residency.ResidencyViolation`, which fails the
test with a message naming the operation, the target, its location and
countries, and the policy. The plugin raises, it never asserts.

Helpers for use inside tests are in :mod:`residency.testing`.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import pytest

from ._errors import PolicyError
from ._guard import Guard, Mode, guard
from ._policy import load_policy

__all__ = ["GuardSettings", "residency_guard", "settings_for"]

_MODES: tuple[Mode, ...] = ("enforce", "audit")
_MARKER_KEYS = ("policy", "mode")


@attrs.frozen
class GuardSettings:
    """The policy and mode a test is guarded with, and where each came from."""

    policy: str
    mode: Mode
    source: str


@attrs.frozen
class _Options:
    policy: str | None
    mode: Mode | None


_OPTIONS = pytest.StashKey[_Options]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("residency", "eu-residency storage guard")
    group.addoption(
        "--residency-policy",
        metavar="NAME",
        default=None,
        help="guard every test with this policy (built-in name or path); a residency marker overrides it",
    )
    group.addoption(
        "--residency-mode",
        choices=_MODES,
        default=None,
        help="enforce (raise, the default) or audit (log a WARNING) for guarded tests",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "residency(policy='eu', mode='enforce'): guard this test's cloud SDK writes with an "
        "eu-residency policy (overrides --residency-policy/--residency-mode)",
    )
    policy = config.getoption("--residency-policy", default=None)
    mode = config.getoption("--residency-mode", default=None)
    if policy is not None:
        try:
            load_policy(policy)
        except PolicyError as exc:
            raise pytest.UsageError(f"--residency-policy: {exc}") from None
    config.stash[_OPTIONS] = _Options(policy, mode)


def settings_for(item: pytest.Item) -> GuardSettings | None:
    """The guard settings for ``item``, or ``None`` if nothing asks for a guard.

    Marker over command line over defaults; ``None`` when the test neither
    carries the marker, nor uses the fixture, nor runs under
    ``--residency-policy``.
    """
    options = item.config.stash.get(_OPTIONS, _Options(None, None))
    marker = item.get_closest_marker("residency")
    uses_fixture = "residency_guard" in getattr(item, "fixturenames", ())
    if marker is None and options.policy is None and not uses_fixture:
        return None
    policy, source = "eu", "default"
    mode: Mode = "enforce"
    if options.policy is not None:
        policy, source = options.policy, "--residency-policy"
    if options.mode is not None:
        mode = options.mode
    if marker is not None:
        kwargs = dict(marker.kwargs)
        if marker.args:
            if len(marker.args) > 1 or "policy" in kwargs:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.residency takes one policy, e.g. @pytest.mark.residency(policy='eu')"
                )
            kwargs["policy"] = marker.args[0]
        unknown = sorted(set(kwargs) - set(_MARKER_KEYS))
        if unknown:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.residency: unknown argument {unknown[0]!r}; "
                f"expected {', '.join(_MARKER_KEYS)}"
            )
        if "policy" in kwargs:
            policy, source = kwargs["policy"], "marker"
        if "mode" in kwargs:
            if kwargs["mode"] not in _MODES:
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.residency: mode must be 'enforce' or 'audit', got {kwargs['mode']!r}"
                )
            mode = kwargs["mode"]
    return GuardSettings(policy, mode, source)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    options = config.stash.get(_OPTIONS, _Options(None, None))
    for item in items:
        names = getattr(item, "fixturenames", None)
        if names is None or "residency_guard" in names:
            continue
        if options.policy is not None or item.get_closest_marker("residency") is not None:
            # Last, so the test's own fixtures are set up unguarded.
            names.append("residency_guard")


@pytest.fixture
def residency_guard(request: pytest.FixtureRequest) -> Iterator[Guard]:
    """The :class:`residency.Guard` active for this test (policy from the marker or option, default ``eu``).

    Always uninstalled after the test, also when it fails.
    """
    settings = settings_for(request.node) if isinstance(request.node, pytest.Item) else None
    if settings is None:
        settings = GuardSettings("eu", "enforce", "default")
    try:
        g = guard(settings.policy, mode=settings.mode)
    except PolicyError as exc:
        raise pytest.UsageError(f"{request.node.nodeid}: residency policy ({settings.source}): {exc}") from None
    g.install()
    try:
        yield g
    finally:
        g.uninstall()
