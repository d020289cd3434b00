"""``residency guardrails aws`` on a large organisation: requests and wall time (not a timed test).

Run::

    python benchmarks/bench_guardrails.py [--accounts 1000] [--ous 100] [--concurrency 8] [--per-target]

Builds, in a moto server on 127.0.0.1 (its own process, real HTTP),
an organisation of ``--accounts`` member accounts spread evenly over ``--ous``
OUs (ten top-level OUs, the rest nested one level below them). The root carries
the SCP that ``residency guardrails emit aws --policy eu`` writes; every
top-level OU a shared "no ECR" SCP; one OU in ten a region deny that also
lets London in (a violation under ``eu``). Then times one evaluation through
:func:`residency.check_guardrails` and counts its requests by operation
(``before-send`` on the session), checks that every policy was described
once, and that exactly the accounts below the London OU (and the management
account) are violations. ``--per-target`` names every account, as
``--accounts`` does, so attachments are read per target (``ListPoliciesForTarget``).
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

import boto3

import residency


def _scp(client: Any, name: str, content: str) -> str:
    pid: str = client.create_policy(Name=name, Type="SERVICE_CONTROL_POLICY", Description=name, Content=content)[
        "Policy"
    ]["PolicySummary"]["Id"]
    return pid


def _build(client: Any, n_accounts: int, n_ous: int) -> tuple[set[str], str, int]:
    """The organisation; returns the accounts that must be violations, the management account, the policy count.

    Ten top-level OUs carry the emitted ``eu`` SCP and a shared "no ECR" SCP; the first carries the emitted SCP
    with London added instead (SCPs only narrow, so the hole must be at a level above the accounts).
    """
    client.create_organization(FeatureSet="ALL")
    management = client.describe_organization()["Organization"]["MasterAccountId"]
    root = client.list_roots()["Roots"][0]["Id"]
    [emitted] = residency.emit_guardrails("aws", "eu")["policies"]
    eu = _scp(client, "residency-eu", emitted["Content"])
    doc = json.loads(emitted["Content"])
    for st in doc["Statement"]:
        for test in st["Condition"].values():
            for key in test:
                test[key] = [*test[key], "eu-west-2"]
    london = _scp(client, "residency-eu-plus-london", json.dumps(doc))
    statement = {"Effect": "Deny", "Action": "ecr:*", "Resource": "*"}
    no_ecr = _scp(client, "NoEcr", json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
    top = [
        client.create_organizational_unit(ParentId=root, Name=f"top{i}")["OrganizationalUnit"]["Id"]
        for i in range(min(10, n_ous))
    ]
    for i, t in enumerate(top):
        client.attach_policy(PolicyId=london if i == 0 else eu, TargetId=t)
        client.attach_policy(PolicyId=no_ecr, TargetId=t)
    ous = list(top)
    under: dict[str, str] = {t: t for t in top}
    while len(ous) < n_ous:
        parent = top[len(ous) % len(top)]
        ou = client.create_organizational_unit(ParentId=parent, Name=f"ou{len(ous)}")["OrganizationalUnit"]["Id"]
        ous.append(ou)
        under[ou] = parent
    bad: set[str] = set()
    for k in range(n_accounts):
        ou = ous[k % len(ous)]
        acct = client.create_account(AccountName=f"a{k}", Email=f"a{k}@example.com")["CreateAccountStatus"]["AccountId"]
        client.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=ou)
        if under[ou] == top[0]:
            bad.add(acct)
    return bad, management, 5  # FullAWSAccess, RCPFullAWSAccess, residency-eu, its London variant, NoEcr


def _serve(port: int) -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    while True:
        time.sleep(3600)


def _start_server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/moto-api/").close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--ous", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--per-target", action="store_true", help="name every account (ListPoliciesForTarget path)")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        _serve(args.serve)
        return
    proc, url = _start_server()
    try:
        session = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name="us-east-1")
        client = session.client("organizations", endpoint_url=url)
        t0 = time.perf_counter()
        bad, management, n_policies = _build(client, args.accounts, args.ous)
        setup = time.perf_counter() - t0
        calls: collections.Counter[str] = collections.Counter()
        last = [0.0]
        session.events.register("before-call.organizations.*", lambda model, **_: calls.update([model.name]))
        session.events.register("after-call.organizations.*", lambda **_: last.__setitem__(0, time.perf_counter()))
        accounts = None
        if args.per_target:  # name every account: attachments per target, as for --accounts
            pages = client.get_paginator("list_accounts").paginate()
            accounts = [a["Id"] for page in pages for a in page["Accounts"]]
        t0 = time.perf_counter()
        result = residency.check_guardrails(
            "aws", "eu", session=session, endpoint_url=url, concurrency=args.concurrency, accounts=accounts
        )
        wall = time.perf_counter() - t0
        requests_done = last[0] - t0
    finally:
        proc.terminate()
        proc.wait()
    counts = result.counts
    print(f"organisation: {args.accounts} member accounts in {args.ous} OUs (set up in {setup:.1f} s)")
    print(f"findings: {dict(counts)}")
    print(f"requests: {sum(calls.values())} ({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))})")
    print(f"DescribePolicy: {calls['DescribePolicy']} for {n_policies} policies")
    print(
        f"wall: {wall:.2f} s at concurrency {args.concurrency} (last response at {requests_done:.2f} s; "
        f"evaluation after it {wall - requests_done:.2f} s)"
    )
    for n in result.notes:
        print(f"note: {n}")
    violations = {f.account for f in result.findings if f.status == "violation"}
    assert violations == bad | {management}, "the violations are not the London OU's accounts"
    assert calls["DescribePolicy"] == n_policies, "a policy was described more than once"
    print(f"violations: the {len(bad)} accounts below the London OU and the management account, as seeded")


if __name__ == "__main__":
    main()
