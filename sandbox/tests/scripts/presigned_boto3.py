"""Presigned SigV4 URLs against the sandbox's STS, made by independent clients: an EKS
token from the stock `aws eks get-token` (a presigned GetCallerIdentity URL with the
signed `x-k8s-aws-id` header, as every EKS authenticator replays it) and botocore's own
presigner. A good URL answers GetCallerIdentity; a tampered, expired or unsigned-header
one is refused with 403. Endpoint, credentials and region from the environment; prints
a JSON summary on success, exits non-zero on the first divergence."""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def expect(what, got, status, needle):
    code, body = got
    assert code == status and needle in body, f"{what}: {code} {body}"


summary = {}

# `aws eks get-token`: k8s-aws-v1.<base64url presigned URL, no padding>.
out = subprocess.run(
    ["aws", "eks", "get-token", "--cluster-name", "primary", "--output", "json"],
    check=True,
    capture_output=True,
    text=True,
).stdout
token = json.loads(out)["status"]["token"]
assert token.startswith("k8s-aws-v1."), token
encoded = token[len("k8s-aws-v1.") :]
url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
assert "X-Amz-Signature=" in url and "x-k8s-aws-id" in url, url
signed_host = {"x-k8s-aws-id": "primary"}
expect("eks token", get(url, signed_host), 200, "<Account>000000000000</Account>")
expect("eks token without its signed header", get(url), 403, "SignatureDoesNotMatch")
expect(
    "eks token for another cluster",
    get(url, {"x-k8s-aws-id": "secondary"}),
    403,
    "SignatureDoesNotMatch",
)
summary["eks_token"] = "ok"

# botocore's presigner.
sts = boto3.client("sts", region_name=os.environ["AWS_REGION"])
# Signed for GET, as the URL is used (botocore signs the operation's POST otherwise,
# which AWS refuses when the URL is fetched with GET, and so does the sandbox).
url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
expect("presigned", get(url), 200, "<Arn>")
post = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60)
expect("signed for POST, fetched with GET", get(post), 403, "SignatureDoesNotMatch")
expect(
    "tampered",
    get(url.replace("Action=GetCallerIdentity", "Action=GetCallerIdentitx")),
    403,
    "SignatureDoesNotMatch",
)
short = sts.generate_presigned_url("get_caller_identity", ExpiresIn=1, HttpMethod="GET")
time.sleep(2.5)
expect("expired", get(short), 403, "Request has expired")
too_long = url.replace("X-Amz-Expires=60", "X-Amz-Expires=604801")
expect("a week and a second", get(too_long), 403, "X-Amz-Expires")
summary["presigned"] = "ok"

json.dump(summary, sys.stdout)
