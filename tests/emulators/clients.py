"""botocore clients and raw signed requests against the emulators, for tests anywhere."""

import http.client
import threading
import time
from urllib.parse import urlsplit

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from . import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY


_session = None
_session_lock = threading.Lock()  # a botocore session is not safe to share while creating clients


def client(emu, service, attempts=1, timeout=5, region="us-east-1", access_key=DEFAULT_ACCESS_KEY,
           secret_key=DEFAULT_SECRET_KEY, token=None):
    """A botocore client for service ("cloudfront" or "codedeploy") against emu (anything with
    cloudfront_url and codedeploy_url); retries off unless attempts > 1. Thread-safe."""
    global _session
    url = emu.cloudfront_url if service == "cloudfront" else emu.codedeploy_url
    with _session_lock:
        _session = _session or botocore.session.get_session()  # loads each model once
        return _session.create_client(
            service, endpoint_url=url, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key, aws_session_token=token,
            config=Config(retries={"total_max_attempts": attempts, "mode": "standard"},
                          connect_timeout=timeout, read_timeout=timeout))


def sign(method, url, service, body=b"", headers=None, region="us-east-1",
         access_key=DEFAULT_ACCESS_KEY, secret_key=DEFAULT_SECRET_KEY, token=None, when=None):
    """Headers of a request signed by botocore (at epoch `when`, default now)."""
    req = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    req.headers["Host"] = urlsplit(url).netloc
    signer = SigV4Auth(Credentials(access_key, secret_key, token), service, region)
    if when is None:
        signer.add_auth(req)
    else:  # add_auth always signs at "now"; run its steps at the given time
        req.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
        signer._modify_request_before_signing(req)
        sts = signer.string_to_sign(req, signer.canonical_request(req))
        signer._inject_signature_to_request(req, signer.signature(sts, req))
    return dict(req.headers.items())


def send(url, method="GET", body=b"", headers=None, timeout=5):
    """(status, headers, body) of one raw request on a fresh connection."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body,
                     headers=headers or {})
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def codedeploy_raw(emu, op, body, **sign_kw):
    """A signed JSON 1.1 call as raw bytes; returns (status, headers, body)."""
    headers = {"X-Amz-Target": f"CodeDeploy_20141006.{op}",
               "Content-Type": "application/x-amz-json-1.1"}
    headers = sign("POST", emu.codedeploy_url + "/", "codedeploy", body, headers, **sign_kw)
    return send(emu.codedeploy_url + "/", "POST", body, headers)
