"""hookhost sign: requests signed by the command, sent as printed to the emulators (which verify
them with botocore's SigV4 steps), the published test-suite signatures, and usage errors."""
import http.client
import json
import time
import urllib.parse

import pytest

import sigv4suite
from emulators import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Emulators

SUITE = sigv4suite.path()

CREDS = {"AWS_ACCESS_KEY_ID": DEFAULT_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY,
         "HOME": "/nonexistent"}


@pytest.fixture
def emu():
    e = Emulators.start()
    try:
        yield e
    finally:
        e.stop()


def headers_of(stdout):
    """[(name, value)] from the printed lines, in order."""
    out = []
    for line in stdout.splitlines():
        name, sep, value = line.partition(": ")
        assert sep, f"not a header line: {line!r}"
        out.append((name, value))
    return out


def send(url, method, headers, body=b""):
    """Send exactly these headers (no others but Content-Length and Accept-Encoding: identity,
    which are never signed) and return (status, body)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        target = (u.path or "/") + (f"?{u.query}" if u.query else "")
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if body or method in ("POST", "PUT"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def codedeploy_args(emu, body_file, op="GetDeployment", extra=()):
    return ["sign", "--method", "POST", "--url", emu.codedeploy_url + "/",
            "--header", f"X-Amz-Target: CodeDeploy_20141006.{op}",
            "--header", "Content-Type: application/x-amz-json-1.1",
            "--body-file", body_file, "--region", "us-east-1", "--service", "codedeploy", *extra]


# ---- signed requests the emulators accept ---------------------------------------------------------

def test_signed_codedeploy_request_is_accepted(hookhost, write, emu):
    dep = emu.seed_deployment()
    body = json.dumps({"deploymentId": dep})
    bf = write("body.json", body)
    p = hookhost(*codedeploy_args(emu, bf), env=CREDS)
    assert p.returncode == 0, p.stderr
    hs = headers_of(p.stdout)
    names = [n for n, _ in hs]
    assert names == ["Host", "X-Amz-Date", "X-Amz-Target", "Content-Type", "Authorization"]
    assert dict(hs)["Host"] == urllib.parse.urlsplit(emu.codedeploy_url).netloc
    assert dict(hs)["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={DEFAULT_ACCESS_KEY}/")
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-target," in dict(hs)["Authorization"]
    status, resp = send(emu.codedeploy_url + "/", "POST", hs, body.encode())
    assert status == 200, resp
    assert json.loads(resp)["deploymentInfo"]["deploymentId"] == dep
    assert emu.signature_failures == 0


def test_signed_cloudfront_get_with_query_is_accepted(hookhost, emu):
    url = emu.cloudfront_url + "/2020-05-31/distribution/E2EXAMPLE123/invalidation?MaxItems=2"
    p = hookhost("sign", "--method", "GET", "--url", url, "--region", "us-east-1",
                 "--service", "cloudfront", "--header", "X-Debug:  two  spaces ", env=CREDS)
    assert p.returncode == 0, p.stderr
    hs = headers_of(p.stdout)
    status, resp = send(url, "GET", hs)
    assert status == 200, resp
    assert b"<InvalidationList" in resp
    assert emu.signature_failures == 0


def test_tampered_requests_are_rejected(hookhost, write, emu):
    dep = emu.seed_deployment()
    body = json.dumps({"deploymentId": dep})
    p = hookhost(*codedeploy_args(emu, write("b.json", body)), env=CREDS)
    assert p.returncode == 0, p.stderr
    hs = headers_of(p.stdout)
    # another body than the one signed
    status, resp = send(emu.codedeploy_url + "/", "POST", hs, body.replace("d-", "d-X").encode())
    assert status == 403 and b"InvalidSignatureException" in resp
    # another operation than the one signed
    bad = [(n, v.replace("GetDeployment", "ListDeploymentTargets")) if n == "X-Amz-Target"
           else (n, v) for n, v in hs]
    status, resp = send(emu.codedeploy_url + "/", "POST", bad, body.encode())
    assert status == 403 and b"InvalidSignatureException" in resp
    # a signature from another secret key
    p2 = hookhost(*codedeploy_args(emu, write("b.json", body)),
                  env=dict(CREDS, AWS_SECRET_ACCESS_KEY="not-the-secret-key-at-all"))
    status, resp = send(emu.codedeploy_url + "/", "POST", headers_of(p2.stdout), body.encode())
    assert status == 403
    assert emu.signature_failures == 3


def test_date_option_is_what_gets_signed(hookhost, write, emu):
    body = json.dumps({"deploymentId": emu.seed_deployment()})
    bf = write("b.json", body)
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    p = hookhost(*codedeploy_args(emu, bf, extra=["--date", now]), env=CREDS)
    hs = headers_of(p.stdout)
    assert dict(hs)["X-Amz-Date"] == now and f"/{now[:8]}/us-east-1/codedeploy/" in dict(hs)["Authorization"]
    assert send(emu.codedeploy_url + "/", "POST", hs, body.encode())[0] == 200
    # an hour ago: a valid signature, refused for clock skew
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 3600))
    p = hookhost(*codedeploy_args(emu, bf, extra=["--date", old]), env=CREDS)
    assert send(emu.codedeploy_url + "/", "POST", headers_of(p.stdout), body.encode())[0] == 403
    assert emu.signature_failures == 1


def test_session_token_is_printed_and_signed(hookhost, write):
    token = "FwoGZXIvYXdzEXAMPLE-sign-cli-token-0123456789"
    with Emulators.start(session_token=token) as emu:
        body = json.dumps({"deploymentId": emu.seed_deployment()})
        p = hookhost(*codedeploy_args(emu, write("b.json", body)),
                     env=dict(CREDS, AWS_SESSION_TOKEN=token))
        assert p.returncode == 0, p.stderr
        hs = headers_of(p.stdout)
        assert [n for n, _ in hs][:3] == ["Host", "X-Amz-Date", "X-Amz-Security-Token"]
        assert dict(hs)["X-Amz-Security-Token"] == token
        assert "x-amz-security-token" in dict(hs)["Authorization"]
        assert send(emu.codedeploy_url + "/", "POST", hs, body.encode())[0] == 200
        assert emu.signature_failures == 0


def test_presigned_url_is_accepted_and_tampering_rejected(hookhost, emu):
    url = emu.cloudfront_url + "/2020-05-31/distribution/E2EXAMPLE123/invalidation?MaxItems=3"
    p = hookhost("sign", "--method", "GET", "--url", url, "--region", "us-east-1",
                 "--service", "cloudfront", "--query", "--expires", "60", env=CREDS)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1
    signed = lines[0]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(signed).query)
    assert q["MaxItems"] == ["3"] and q["X-Amz-Expires"] == ["60"]
    assert q["X-Amz-SignedHeaders"] == ["host"] and len(q["X-Amz-Signature"][0]) == 64
    host = urllib.parse.urlsplit(signed).netloc
    status, resp = send(signed, "GET", [("Host", host)])
    assert status == 200, resp
    assert emu.signature_failures == 0
    status, resp = send(signed.replace("MaxItems=3", "MaxItems=4"), "GET", [("Host", host)])
    assert status == 403 and b"SignatureDoesNotMatch" in resp
    assert emu.signature_failures == 1


# ---- the published test suite ----------------------------------------------------------------

def suite_cases():
    if SUITE is None:
        return []
    out = []
    for d in sorted(SUITE.iterdir()):
        ctx = json.loads((d / "context.json").read_text())
        req = (d / "request.txt").read_bytes().decode("utf-8")
        head, _, body = req.partition("\n\n")
        lines = [l for l in head.split("\n") if l]
        method, _, target = lines[0].rsplit(" ", 1)[0].partition(" ")  # "GET /a b HTTP/1.1"
        # what the command can express: normalized, unsigned payload, encodable request lines,
        # one-line headers, a token signed with the request
        if (not ctx.get("normalize") or ctx.get("sign_body") or ctx.get("omit_session_token")
                or not target.isascii() or " " in target
                or any(l.startswith((" ", "\t")) for l in lines[1:])):
            continue
        out.append(pytest.param(d, ctx, method, target, lines[1:], body, id=d.name))
    return out


@pytest.mark.parametrize("case,ctx,method,target,header_lines,body", sigv4suite.params(suite_cases(), 6))
def test_sigv4_suite(hookhost, write, case, ctx, method, target, header_lines, body):
    date = ctx["timestamp"].replace("-", "").replace(":", "")
    env = {"AWS_ACCESS_KEY_ID": ctx["credentials"]["access_key_id"],
           "AWS_SECRET_ACCESS_KEY": ctx["credentials"]["secret_access_key"], "HOME": "/nonexistent"}
    if ctx["credentials"].get("token"):
        env["AWS_SESSION_TOKEN"] = ctx["credentials"]["token"]
    args = ["--method", method, "--url", "https://example.amazonaws.com" + target,
            "--region", ctx["region"], "--service", ctx["service"], "--date", date,
            "--body-file", write("body", body)]
    for line in header_lines:
        name = line.split(":", 1)[0].lower()
        if name not in ("x-amz-date", "x-amz-security-token"):
            args += ["--header", line]
    p = hookhost("sign", *args, env=env)
    assert p.returncode == 0, p.stderr
    want = (case / "header-signature.txt").read_text().strip()
    assert dict(headers_of(p.stdout))["Authorization"].endswith("Signature=" + want)
    p = hookhost("sign", *args, "--query", "--expires", str(ctx["expiration_in_seconds"]), env=env)
    assert p.returncode == 0, p.stderr
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(p.stdout.strip()).query)
    assert q["X-Amz-Signature"] == [(case / "query-signature.txt").read_text().strip()]


@pytest.mark.skipif(SUITE is None, reason=sigv4suite.REASON)
def test_suite_cases_were_found():
    assert len(suite_cases()) >= 20


# ---- usage and credential errors -----------------------------------------------------------------

BASE = ["--method", "GET", "--url", "https://codedeploy.us-east-1.amazonaws.com/",
        "--region", "us-east-1", "--service", "codedeploy"]


def replace(args, opt, value):
    a = list(args)
    a[a.index(opt) + 1] = value
    return a


@pytest.mark.parametrize("args,message", [
    ([], "--method is required"),
    (BASE[2:], "--method is required"),
    (BASE[:2] + BASE[4:], "--url is required"),
    (BASE[:6], "--service is required"),
    (BASE[:4] + BASE[6:], "--region is required"),
    (replace(BASE, "--method", "get"), "--method get: expected an HTTP method"),
    (replace(BASE, "--method", "GE T"), "--method GE T"),
    (replace(BASE, "--url", "ftp://example.com/"), "--url ftp://example.com/: the scheme must be http or https"),
    (replace(BASE, "--url", "example.com/"), "--url example.com/: expected an http"),
    (replace(BASE, "--url", "https://example.com/a b"), "must be encoded"),
    (replace(BASE, "--url", "https://example.com:0/"), "port"),
    (replace(BASE, "--url", "https://example.com/#x"), "fragment"),
    (replace(BASE, "--region", "US_EAST"), "--region US_EAST"),
    (replace(BASE, "--service", "Code Deploy"), "--service Code Deploy"),
    (BASE + ["--header", "NoColon"], "--header 'NoColon': expected 'Name: value'"),
    (BASE + ["--header", "Bad Name: x"], "the name must be a token"),
    (BASE + ["--header", "X-A: a\r\nX-Injected: b"], "--header X-A: CR or LF"),
    (BASE + ["--header", "X-A: a\nb"], "--header X-A: CR or LF"),
    (BASE + ["--header", "Authorization: x"], "--header Authorization: set by the signer"),
    (BASE + ["--date", "2026-11-26T06:00:00Z"], "--date 2026-11-26T06:00:00Z: expected YYYYMMDDTHHMMSSZ"),
    (BASE + ["--date", "20261131T060000Z"], "--date 20261131T060000Z"),
    (BASE + ["--date", "20261126T250000Z"], "--date 20261126T250000Z"),
    (BASE + ["--expires", "60"], "--expires is for presigned URLs"),
    (BASE + ["--query", "--expires", "0"], "--expires 0"),
    (BASE + ["--query", "--expires", "604801"], "--expires 604801"),
    (BASE + ["--bogus"], "unknown option --bogus"),
    (BASE + ["--region"], "--region needs a value"),
    (BASE + ["extra"], "unexpected argument extra"),
    (BASE + ["--body-file", "/nonexistent/body"], "--body-file /nonexistent/body"),
])
def test_usage_errors(hookhost, args, message):
    p = hookhost("sign", *args, env=CREDS)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert message in p.stderr, p.stderr
    assert p.stdout == ""


def test_help(hookhost):
    for args in (["--help"], ["-h"], BASE + ["--help"], ["--bogus", "--help"]):
        p = hookhost("sign", *args)
        assert p.returncode == 0 and p.stdout.startswith("Usage: hookhost sign"), args
        assert "--query" in p.stdout and "--expires" in p.stdout and "Exit status" in p.stdout


def test_credential_errors_exit_1(hookhost, tmp_path):
    p = hookhost("sign", *BASE, env={"HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "c"),
                                     "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "s")})
    assert p.returncode == 1 and "hookhost sign: credentials:" in p.stderr and p.stdout == ""
    p = hookhost("sign", *BASE, env={"AWS_ACCESS_KEY_ID": "AKIDONLY", "HOME": str(tmp_path)})
    assert p.returncode == 1 and p.stdout == ""


def test_s3_signs_the_payload_hash(hookhost, write):
    p = hookhost("sign", "--method", "PUT", "--url", "https://bucket.s3.us-east-1.amazonaws.com/key",
                 "--region", "us-east-1", "--service", "s3", "--body-file", write("b", "hello"),
                 env=CREDS)
    assert p.returncode == 0, p.stderr
    hs = headers_of(p.stdout)
    assert [n for n, _ in hs] == ["Host", "X-Amz-Date", "x-amz-content-sha256", "Authorization"]
    assert dict(hs)["x-amz-content-sha256"] == \
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    p = hookhost("sign", "--method", "GET", "--url", "https://bucket.s3.us-east-1.amazonaws.com/key",
                 "--region", "us-east-1", "--service", "s3", "--query", env=CREDS)
    assert p.returncode == 0 and "X-Amz-Expires=900" in p.stdout
