"""Every AWS request's signature is checked: tampering, wrong keys, scope, clock, session token,
presigned URLs; and the verifier accepts the published SigV4 test vectors."""

import hashlib
import json
import time
from http.client import parse_headers
from io import BytesIO

import pytest
from botocore.auth import SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

import sigv4suite
from emulators import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Emulators
from emulators.clients import client, codedeploy_raw, send, sign
from emulators.sigv4 import Rejection, Verifier

DIST = "E2EXAMPLE123"
BATCH = (b'<?xml version="1.0" encoding="UTF-8"?><InvalidationBatch xmlns="http://cloudfront.'
         b'amazonaws.com/doc/2020-05-31/"><Paths><Quantity>1</Quantity><Items><Path>/*</Path>'
         b'</Items></Paths><CallerReference>ref</CallerReference></InvalidationBatch>')


def create_url(emu):
    return f"{emu.cloudfront_url}/2020-05-31/distribution/{DIST}/invalidation"


def error_code(raw):
    text = raw.decode()
    return json.loads(text)["__type"] if text.startswith("{") else text.split("<Code>")[1].split("<")[0]


def test_a_body_changed_after_signing_is_rejected_and_counted(emu):
    url = create_url(emu)
    headers = sign("POST", url, "cloudfront", BATCH)
    tampered = BATCH.replace(b"/*", b"/x")
    status, _, raw = send(url, "POST", tampered, headers)
    assert (status, error_code(raw)) == (403, "SignatureDoesNotMatch")
    assert emu.signature_failures == 1 and emu.invalidations() == []
    assert send(url, "POST", BATCH, headers)[0] == 201  # the untouched request passes
    assert emu.signature_failures == 1 and len(emu.invalidations()) == 1
    assert [e["signature"] for e in emu.requests("cloudfront")] == ["mismatch", "ok"]


def test_a_signed_header_changed_after_signing_is_rejected(emu):
    dep = emu.seed_deployment()
    body = json.dumps({"deploymentId": dep}).encode()
    headers = sign("POST", emu.codedeploy_url + "/", "codedeploy", body,
                   {"X-Amz-Target": "CodeDeploy_20141006.GetDeployment",
                    "Content-Type": "application/x-amz-json-1.1"})
    headers["X-Amz-Target"] = "CodeDeploy_20141006.ListDeploymentTargets"
    status, _, raw = send(emu.codedeploy_url + "/", "POST", body, headers)
    assert (status, error_code(raw)) == (403, "InvalidSignatureException")
    assert emu.signature_failures == 1


def test_a_changed_body_fails_even_with_a_declared_payload_hash(emu):
    url = create_url(emu)
    headers = sign("POST", url, "cloudfront", BATCH,
                   {"X-Amz-Content-SHA256": hashlib.sha256(BATCH).hexdigest()})
    status, _, raw = send(url, "POST", BATCH + b" ", headers)
    assert (status, error_code(raw)) == (403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("creds, cf_code, cd_code", [
    ({"secret_key": "wrong"}, "SignatureDoesNotMatch", "InvalidSignatureException"),
    ({"access_key": "AKIDUNKNOWN"}, "InvalidClientTokenId", "UnrecognizedClientException"),
    ({"token": "unexpected"}, "InvalidClientTokenId", "UnrecognizedClientException"),
    ({"region": "us-west-2"}, "SignatureDoesNotMatch", "InvalidSignatureException"),
])
def test_botocore_clients_with_wrong_credentials_are_refused(emu, creds, cf_code, cd_code):
    with pytest.raises(ClientError) as e:
        client(emu, "cloudfront", **dict(creds)).list_invalidations(DistributionId=DIST)
    assert (e.value.response["ResponseMetadata"]["HTTPStatusCode"],
            e.value.response["Error"]["Code"]) == (403, cf_code)
    with pytest.raises(ClientError) as e:
        client(emu, "codedeploy", **dict(creds)).get_deployment(deploymentId="d-AAAAAAAAA")
    assert (e.value.response["ResponseMetadata"]["HTTPStatusCode"],
            e.value.response["Error"]["Code"]) == (403, cd_code)
    assert emu.signature_failures == 2


def test_missing_authentication(emu):
    status, _, raw = send(create_url(emu))
    assert (status, error_code(raw)) == (403, "MissingAuthenticationToken")
    status, _, raw = send(emu.codedeploy_url + "/", "POST", b"{}",
                          {"X-Amz-Target": "CodeDeploy_20141006.GetDeployment"})
    assert (status, error_code(raw)) == (403, "MissingAuthenticationTokenException")
    status, _, raw = send(create_url(emu), headers={"Authorization": "AWS4-HMAC-SHA256 nonsense"})
    assert (status, error_code(raw)) == (400, "IncompleteSignature")
    assert emu.signature_failures == 3


def test_codedeploy_checks_the_service_and_its_configured_region():
    with Emulators.start(region="eu-central-1") as emu:
        dep = emu.seed_deployment()
        body = json.dumps({"deploymentId": dep}).encode()
        assert codedeploy_raw(emu, "GetDeployment", body, region="eu-central-1")[0] == 200
        assert codedeploy_raw(emu, "GetDeployment", body)[0] == 403  # signed for us-east-1
        headers = sign("POST", emu.codedeploy_url + "/", "cloudfront", body,
                       {"X-Amz-Target": "CodeDeploy_20141006.GetDeployment"}, region="eu-central-1")
        status, _, raw = send(emu.codedeploy_url + "/", "POST", body, headers)
        assert (status, error_code(raw)) == (403, "InvalidSignatureException")
        assert b"correct service" in raw


@pytest.mark.parametrize("offset, ok", [(-14 * 60, True), (-16 * 60, False), (16 * 60, False)])
def test_clock_skew_of_fifteen_minutes(emu, offset, ok):
    dep = emu.seed_deployment()
    status, _, raw = codedeploy_raw(emu, "GetDeployment", json.dumps({"deploymentId": dep}).encode(),
                                    when=time.time() + offset)
    assert status == (200 if ok else 403)
    if not ok:
        assert b"Signature expired" in raw or b"not yet current" in raw


def test_session_token_must_match_and_be_signed():
    with Emulators.start(session_token="SESSION-TOKEN") as emu:
        with pytest.raises(ClientError) as e:  # no token at all
            client(emu, "cloudfront").list_invalidations(DistributionId=DIST)
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        with pytest.raises(ClientError):
            client(emu, "cloudfront", token="OTHER").list_invalidations(DistributionId=DIST)
        assert client(emu, "cloudfront", token="SESSION-TOKEN").list_invalidations(
            DistributionId=DIST)["InvalidationList"]["Quantity"] == 0
        url = create_url(emu)
        headers = sign("GET", url, "cloudfront")  # signed without the token, token added after
        headers["X-Amz-Security-Token"] = "SESSION-TOKEN"
        status, _, raw = send(url, "GET", b"", headers)
        assert (status, error_code(raw)) == (403, "SignatureDoesNotMatch")
        assert emu.signature_failures == 3


def test_user_agent_may_be_signed(emu, monkeypatch):
    """A verifier must use the client's SignedHeaders, even those botocore never signs itself."""
    import botocore.auth
    monkeypatch.setattr(botocore.auth, "SIGNED_HEADERS_BLACKLIST", [])
    url = create_url(emu)
    headers = sign("GET", url, "cloudfront", headers={"User-Agent": "hookhost/1.0"})
    assert "SignedHeaders=host;user-agent;x-amz-date," in headers["Authorization"]
    assert send(url, "GET", b"", headers)[0] == 200
    headers["User-Agent"] = "curl/8"
    assert send(url, "GET", b"", headers)[0] == 403


def presign(url, expires=60, when=None):
    req = AWSRequest(method="GET", url=url)
    auth = SigV4QueryAuth(Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY), "cloudfront",
                          "us-east-1", expires)
    if when is None:
        auth.add_auth(req)
    else:
        req.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
        auth._modify_request_before_signing(req)
        sts = auth.string_to_sign(req, auth.canonical_request(req))
        auth._inject_signature_to_request(req, auth.signature(sts, req))
    return req.url


def test_presigned_urls(emu):
    url = create_url(emu) + "?MaxItems=5"
    good = presign(url)
    status, _, raw = send(good)
    assert status == 200 and b"<MaxItems>5</MaxItems>" in raw
    assert send(good.replace("MaxItems=5", "MaxItems=6"))[0] == 403
    assert send(presign(url, expires=60, when=time.time() - 120))[0] == 403
    assert send(presign(url, expires=60, when=time.time() + 20 * 60))[0] == 403
    assert send(presign(url, expires=8 * 24 * 3600))[0] == 400
    assert emu.signature_failures == 4
    logged = [e["path"] for e in emu.requests()]
    assert all("X-Amz-Signature=REDACTED" in p for p in logged)


# ---- the published SigV4 test vectors (../shared/sigv4-test-suite) ---------------------------

SUITE = sigv4suite.path()
# Vectors with "normalize": false are S3's unnormalized paths: neither CloudFront nor CodeDeploy
# (nor the emulators' verifier) uses them, so they are not collected at all.
CASES = sorted(p.name for p in SUITE.glob("*") if (p / "header-signed-request.txt").exists()
               and json.loads((p / "context.json").read_text()).get("normalize", True)) if SUITE else []


def _parse(raw):
    head, _, body = raw.partition(b"\n\n")
    line, _, rest = head.partition(b"\n")
    method, _, target = line.decode().rpartition(" HTTP/1.1")[0].partition(" ")
    return method, target, parse_headers(BytesIO(rest + b"\n\n")), body


@pytest.mark.parametrize("mode", ["header", "query"])
@pytest.mark.parametrize("case", sigv4suite.params(CASES, 1))
def test_the_verifier_accepts_the_published_vectors(case, mode):
    ctx = json.loads((SUITE / case / "context.json").read_text())
    vector = SUITE / case / f"{mode}-signed-request.txt"
    if not vector.exists():
        pytest.skip(f"no {mode} vector")
    method, target, headers, body = _parse(vector.read_bytes())
    c = ctx["credentials"]
    stamp = time.mktime(time.strptime(ctx["timestamp"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    v = Verifier(ctx["service"], ctx["region"], {c["access_key_id"]: c["secret_access_key"]},
                 c.get("token"), clock=lambda: stamp)
    if ctx.get("omit_session_token"):  # the token is added after signing: refused by policy
        with pytest.raises(Rejection, match="must be a signed header" if mode == "header" else ""):
            v.verify(method, target, headers, body)
        return
    v.verify(method, target, headers, body)
    with pytest.raises(Rejection):
        v.verify(method, target, headers, body + b"x")
