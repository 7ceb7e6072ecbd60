"""Signature Version 4, checked as AWS checks it, for the calls the product signs itself.

moto accepts any signature. AWS recomputes it from the request and refuses a mismatch
(SignatureDoesNotMatch). The functions sign their EC2 calls with their own code
(shared/src/ec2), so the emulator recomputes those signatures here, written from AWS's own
description of the algorithm and not from any SDK ("Create a signed AWS API request",
https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):

  canonical request = method, URI, query, "name:value" of each signed header, the signed
  header names, the payload's SHA-256 (hex), joined by newlines;
  string to sign    = "AWS4-HMAC-SHA256", X-Amz-Date, the credential scope, SHA-256 of the
  canonical request;
  signing key       = HMAC chain of "AWS4"+secret over the date, Region, service,
                      "aws4_request".

Every key the test bed hands out has the secret `testing` (tests/src/emulator.rs,
`function_env`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any
from urllib.parse import quote, unquote

SECRET = "testing"

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<headers>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def mismatch(method: str, path: str, query: str, headers: Any, body: bytes, secret: str = SECRET) -> str | None:
    """Why the EC2 request's signature is not the one AWS would compute; None when it is.
    `headers` is werkzeug's Headers (case-insensitive, `getlist` for repeated ones)."""
    authorization = headers.get("Authorization", "")
    parts = _AUTHORIZATION.match(authorization)
    if parts is None:
        return f"the Authorization header is not a SigV4 header: {authorization[:40]!r}"
    amz_date = headers.get("X-Amz-Date", "")
    if not amz_date.startswith(parts["date"]):
        return f"X-Amz-Date {amz_date!r} is not the credential scope's date {parts['date']}"
    signed = parts["headers"].split(";")
    if signed != sorted(name.lower() for name in signed):
        return f"SignedHeaders {parts['headers']!r} are not lowercase and sorted"
    for required in ("host", "x-amz-date"):
        if required not in signed:
            return f"the {required} header is not signed"
    if path != "/":
        return f"EC2's Query API is POST /, not {path!r}"
    canonical_headers = ""
    for name in signed:
        values = headers.getlist(name)
        if not values:
            return f"the signed header {name} was not sent"
        value = ",".join(" ".join(value.split()) for value in values)
        canonical_headers += f"{name}:{value}\n"
    canonical_request = "\n".join(
        [
            method.upper(),
            "/",
            _canonical_query(query),
            canonical_headers,
            parts["headers"],
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{parts['date']}/{parts['region']}/{parts['service']}/aws4_request"
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = _hmac(("AWS4" + secret).encode("utf-8"), parts["date"])
    for step in (parts["region"], parts["service"], "aws4_request"):
        key = _hmac(key, step)
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if hmac.compare_digest(expected, parts["signature"]):
        return None
    return "The request signature we calculated does not match the signature you provided."
