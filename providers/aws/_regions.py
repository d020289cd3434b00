"""What an AWS region code looks like, for the guard and the scan alike.

Every partition's codes in botocore's data match (``eu-west-1``,
``us-gov-west-1``, ``us-isof-south-1``, ``cn-north-1``, and the European
Sovereign Cloud's ``eusc-de-east-1``); the ``*-global`` pseudo-regions,
availability zones (``eu-west-1a``) and zone ids (``euw1-az1``) do not. Whether
a code is a region *that exists* is the catalog's and ``DescribeRegions``'s
business, not this pattern's.
"""

from __future__ import annotations

import re

__all__ = ["REGION"]

REGION = re.compile(r"^(?:[a-z]{2}(?:-(?:gov|iso|isob|isoe|isof))?|eusc-[a-z]{2})-[a-z]+-\d+$")
