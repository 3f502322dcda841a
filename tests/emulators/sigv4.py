"""SigV4 verification for the emulated AWS services.

The check mirrors what AWS does before it looks at a request: parse the `Authorization` header
(or the presigned query), check the credential scope, the session token and the clock, then sign
the received request again, independently, with botocore, and compare the two signatures in
constant time. botocore is the reference signer hookhost must agree with byte for byte.
"""

import datetime
import hashlib
import hmac
import re
import time
from urllib.parse import parse_qsl, quote, urlencode

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW_SECONDS = 15 * 60

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")


class Rejection(Exception):
    """Why a request is refused. `kind` is one of: missing, incomplete, unknown_key, bad_token,
    mismatch, expired; each service maps the kind to its own error code and status. `message`
    is what the service answers; `summary` is the same without the canonical strings a signature
    mismatch echoes (they hold the session token), for the emulators' own request log."""

    def __init__(self, kind, message, detail=""):
        super().__init__(message)
        self.kind = kind
        self.summary = message
        self.message = message + detail


class _Signer(SigV4Auth):
    """botocore's SigV4 steps over exactly the headers the client listed in SignedHeaders, with
    the values it sent.

    botocore, when it signs, picks the headers itself (it leaves out User-Agent); a verifier
    must use the client's list instead, or a valid signature over User-Agent would be refused."""

    def __init__(self, credentials, service, region, signed):
        super().__init__(credentials, service, region)
        self.signed = signed  # (lower-case name, value) pairs

    def headers_to_sign(self, request):
        picked = HTTPHeaders()
        for name, value in self.signed:
            picked[name] = value
        return picked

    def signature_at(self, request, timestamp):
        """(signature, canonical request, string to sign) of the request at timestamp."""
        # botocore 1.29's add_auth() always signs at "now"; run its steps at the request's time.
        request.context["timestamp"] = timestamp
        canonical = self.canonical_request(request)
        to_sign = self.string_to_sign(request, canonical)
        return self.signature(to_sign, request), canonical, to_sign


class _S3Signer(_Signer, S3SigV4Auth):
    """The same, with S3's rules (botocore's S3SigV4Auth): the path as sent, neither normalized
    nor encoded again."""


class Verifier:
    """Verifies requests for one service (`cloudfront`, `codedeploy`) in one region.

    keys maps access key id to secret key. session_token, when set, must be sent and signed.
    clock returns the current epoch seconds (tests of old vectors can pin it). s3: S3's rules
    (S3SigV4Auth's canonical path; x-amz-content-sha256 required, the body's SHA-256 or
    UNSIGNED-PAYLOAD)."""

    def __init__(self, service, region, keys, session_token=None, clock=time.time, s3=False):
        self.s3 = s3
        self.service = service
        self.region = region
        self.keys = dict(keys)
        self.session_token = session_token
        self.clock = clock

    def verify(self, method, target, headers, body):
        """Raise Rejection unless the request is correctly signed. target is the raw request
        target ("/path?query"), headers an http.client.HTTPMessage, body bytes."""
        path, _, query = target.partition("?")
        params = parse_qsl(query, keep_blank_values=True)
        qdict = dict(params)
        auth = headers.get("Authorization")
        if auth is None and "X-Amz-Algorithm" not in qdict:
            raise Rejection("missing", "Missing Authentication Token")
        presigned = auth is None
        if presigned:
            if qdict.get("X-Amz-Algorithm") != ALGORITHM:
                raise Rejection("incomplete", "Unsupported X-Amz-Algorithm")
            try:
                credential, names, claimed = (qdict["X-Amz-Credential"], qdict["X-Amz-SignedHeaders"],
                                              qdict["X-Amz-Signature"])
                amz_date, expires = qdict["X-Amz-Date"], int(qdict["X-Amz-Expires"])
            except (KeyError, ValueError):
                raise Rejection("incomplete", "Presigned query lacks a required X-Amz- parameter")
            token = qdict.get("X-Amz-Security-Token")
        else:
            m = _AUTH_RE.match(auth.strip())
            if not m:
                raise Rejection("incomplete", "Authorization header requires 'Credential', "
                                "'SignedHeaders' and 'Signature' parameters")
            credential, names, claimed = m.groups()
            amz_date = headers.get("X-Amz-Date")
            if amz_date is None:
                raise Rejection("incomplete", "Authorization header requires existence of a "
                                "'X-Amz-Date' header")
            token = headers.get("X-Amz-Security-Token")
        signed_names = names.split(";")

        scope = credential.split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise Rejection("incomplete", "Credential must have five parts ending in aws4_request")
        access_key, date, region, service = scope[:4]
        secret = self.keys.get(access_key)
        if secret is None:
            raise Rejection("unknown_key", "The security token included in the request is invalid.")
        self._check_token(token, presigned, signed_names)
        try:
            when = datetime.datetime.strptime(amz_date, TIMESTAMP_FORMAT).replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            raise Rejection("incomplete", "X-Amz-Date must be in the form YYYYMMDDTHHMMSSZ")
        if date != amz_date[:8]:
            raise Rejection("mismatch", f"Date in Credential scope does not match YYYYMMDD from "
                            f"X-Amz-Date: {date} != {amz_date[:8]}")
        if region != self.region:
            raise Rejection("mismatch", f"Credential should be scoped to a valid region, not '{region}'.")
        if service != self.service:
            raise Rejection("mismatch", f"Credential should be scoped to correct service: '{self.service}'.")
        if "host" not in signed_names:
            raise Rejection("mismatch", "'Host' must be a signed header")
        if not presigned and "x-amz-date" not in signed_names:
            raise Rejection("mismatch", "'X-Amz-Date' must be a signed header")
        now = self.clock()
        if presigned:
            if not 1 <= expires <= 7 * 24 * 3600:
                raise Rejection("incomplete", "X-Amz-Expires must be from 1 to 604800 seconds")
            if now > when + expires or when - now > MAX_SKEW_SECONDS:
                raise Rejection("expired", f"Request has expired (signed {amz_date}, {expires} s)")
        elif abs(now - when) > MAX_SKEW_SECONDS:
            stamp = time.strftime(TIMESTAMP_FORMAT, time.gmtime(now))
            raise Rejection("expired", f"Signature expired: {amz_date} is now earlier than "
                            f"{stamp} ({stamp} - 15 min.)" if when < now else
                            f"Signature not yet current: {amz_date} is still later than {stamp} "
                            f"({stamp} + 15 min.)")
        declared = headers.get("X-Amz-Content-Sha256")
        if self.s3 and not presigned and declared is None:
            raise Rejection("incomplete", "Missing required header for this request: "
                            "x-amz-content-sha256")
        if self.s3 and declared == "UNSIGNED-PAYLOAD":
            pass  # S3 takes an unsigned payload (the signature still covers the header)
        elif declared is not None and declared != hashlib.sha256(body).hexdigest():
            raise Rejection("mismatch", "The provided 'x-amz-content-sha256' header does not match "
                            "what was computed.")

        expected, canonical, to_sign = self._resign(method, path, params, headers, body,
                                                    signed_names, presigned,
                                                    Credentials(access_key, secret, token), amz_date)
        if not hmac.compare_digest(expected, claimed):
            # As AWS answers: the canonical request it expected, session token included.
            raise Rejection("mismatch", "The request signature we calculated does not match the "
                            "signature you provided. Check your AWS Secret Access Key and signing "
                            "method. Consult the service documentation for details.",
                            f"\n\nThe Canonical String for this request should have been\n'{canonical}'"
                            f"\n\nThe String-to-Sign should have been\n'{to_sign}'\n")

    def _check_token(self, token, presigned, signed_names):
        if self.session_token is None:
            if token is not None:
                raise Rejection("bad_token", "The security token included in the request is invalid.")
            return
        if token is None or not hmac.compare_digest(token.encode(), self.session_token.encode()):
            raise Rejection("bad_token", "The security token included in the request is invalid.")
        if not presigned and "x-amz-security-token" not in signed_names:
            raise Rejection("mismatch", "'X-Amz-Security-Token' must be a signed header")

    def _resign(self, method, path, params, headers, body, signed_names, presigned, creds,
                amz_date):
        # A presigned URL's canonical query holds every parameter but the signature itself, the
        # X-Amz- ones included. (botocore's presigner, SigV4QueryAuth, is a client: it rebuilds
        # the query with one value per key and moves a body into it, so it is not used here.)
        params = [(k, v) for k, v in params if not (presigned and k == "X-Amz-Signature")]
        signer = (_S3Signer if self.s3 else _Signer)(
            creds, self.service, self.region,
            [(n, v) for n in signed_names for v in headers.get_all(n) or []])
        # SigV4 encodes the decoded names and values again, whatever encoding the client sent.
        query = "?" + urlencode(params, quote_via=_quote) if params else ""
        payload = hashlib.sha256(body).hexdigest()
        if self.s3 and headers.get("X-Amz-Content-Sha256") == "UNSIGNED-PAYLOAD":
            payload = "UNSIGNED-PAYLOAD"
        request = AWSRequest(method=method, url=f"http://{headers.get('Host', '')}{path}{query}",
                             headers={"X-Amz-Content-SHA256": payload})
        return signer.signature_at(request, amz_date)


def _quote(s, safe="", encoding=None, errors=None):
    return quote(s, safe="-_.~", encoding=encoding, errors=errors)
