"""Packaged data: the location catalog, geographies, countries and the policy schema."""
