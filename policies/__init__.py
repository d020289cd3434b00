"""Built-in policy files (``eu.yaml``, ``eea.yaml``, ``eea-ch.yaml``), shipped as package data.

Load them with ``residency.load_policy("eu")``.
"""
