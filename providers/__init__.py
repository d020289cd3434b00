"""Cloud provider adapters, installed as ``residency.providers``.

Each adapter lives in its own sub-package (``aws``, ``azure``, ``gcp``) and is
the only place that imports that cloud's SDK. The core finds them through
:func:`residency.load_provider`, which imports them lazily and turns a missing
SDK into :class:`residency.ProviderNotInstalledError` naming the extra.
"""
