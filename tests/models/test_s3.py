"""S3's particulars and unsigned operations, differential against botocore 1.29.

hookhost's side is the real binary: `hookhost run --dry-run -v` makes every call through
aws.client() and the C core, which logs each request as it would be sent (URL, query, headers,
body) without sending it (tests/models/s3_driver.lua). botocore's side is a client whose
`before-send` handler captures the prepared request and stops it (offline, fake credentials).

Compared: method, scheme, host, path, query (parsed pairs), every header but the ones that vary
by design (User-Agent, X-Amz-Date, Authorization's value, botocore's amz-sdk-*, Expect and
Content-Length), and the body. Documented differences, normalized here and nowhere else:
- us-east-1: hookhost calls the regional endpoint (s3.us-east-1.amazonaws.com), botocore 1.29
  the legacy global one (s3.amazonaws.com) unless told `us_east_1_regional_endpoint =
  regional`; botocore is told so here (test_us_east_1_global_endpoint shows the one difference);
- PutObject and UploadPart over https: botocore sends x-amz-content-sha256: UNSIGNED-PAYLOAD
  when a Content-MD5 is present; hookhost always signs the payload's SHA-256 (its bodies are
  bounded and in memory). The header must then be the body's SHA-256;
- flexible checksums on streaming uploads (PutObject, UploadPart) over https: botocore sends
  the checksum as an aws-chunked trailer, hookhost always as a header, which botocore itself
  does over http: those cases are compared against a botocore client on an http endpoint;
- an endpoint whose host is an IP address is always addressed by path (botocore 1.29, asked
  for virtual addressing on http, makes hosts like my.bucket.127.0.0.1 of dotted buckets);
- virtual-hosted on an endpoint with a base path, a bucket-only request's path is "/base/"
  (botocore: "/base"): hookhost's paths always start with '/' after the endpoint's.
The counts of cases compared are printed (-s).
"""
import base64
import hashlib
import http.server
import itertools
import json
import re
import threading
from urllib.parse import parse_qsl, urlsplit

import botocore.config
import botocore.session
import pytest
from emulators import DEFAULT_SECRET_KEY, Emulators
from emulators.sigv4 import Verifier

CREDS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
         "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
         "AWS_SESSION_TOKEN": "session-token-value-123",
         "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}

VARYING = {"user-agent", "x-amz-date", "amz-sdk-invocation-id", "amz-sdk-request", "expect",
           "content-length", "authorization", "x-amz-security-token", "host"}

REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "cn-north-1", "us-gov-west-1"]
BUCKETS = ["mybucket", "my.bucket", "My_Bucket", "ab", "abc", "a" * 63, "a" * 64, "xn--bucket",
           "bucket-", "-bucket", "192.168.1.1", "my--bucket", "1bucket", "b_c", "a..b",
           "UPPER", "bucket.with.dots-1"]
KEYS = ["k", "a b+c~d/é", "dir/sub dir/f(1).txt", "~tilde*star'q", "x=1&y=2?z", "ü/✓/%41"]


class Stop(Exception):
    pass


_clients = {}


def botocore_client(service, region, endpoint=None, style=None):
    key = (service, region, endpoint, style)
    if key in _clients:
        return _clients[key]
    s3 = {"us_east_1_regional_endpoint": "regional"}
    if style:
        s3["addressing_style"] = style
    session = botocore.session.get_session()
    c = session.create_client(service, region_name=region, endpoint_url=endpoint,
                              aws_access_key_id=CREDS["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=CREDS["AWS_SECRET_ACCESS_KEY"],
                              aws_session_token=CREDS["AWS_SESSION_TOKEN"],
                              config=botocore.config.Config(s3=s3, retries={"max_attempts": 1}))
    cap = {}

    def before_send(request, **kw):
        cap["r"] = request
        raise Stop()

    c.meta.events.register("before-send", before_send)
    _clients[key] = (c, cap)
    return c, cap


def botocore_request(case, endpoint):
    c, cap = botocore_client(case.get("service", "s3"), case["region"], endpoint, case.get("style"))
    op = c.meta.method_to_api_mapping
    name = {v: k for k, v in op.items()}[case["operation"]]
    params = dict(case["params"])
    try:
        getattr(c, name)(**params)
    except Stop:
        r = cap.pop("r")
        u = urlsplit(r.url)
        body = r.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else str(v))
                   for k, v in r.headers.items()}
        return {"method": r.method, "scheme": u.scheme, "host": u.netloc, "path": u.path,
                "query": sorted(parse_qsl(u.query, keep_blank_values=True)),
                "headers": headers, "body": body or b""}
    except Exception as e:  # botocore refused the parameters
        return {"error": str(e)}
    raise AssertionError("the before-send handler did not run")


def parse_description(line):
    """'dry run: not sent: S3 GetObject GET https://h/p (N bytes) ... {fields}' -> request."""
    rest = line.split("dry run: not sent: ", 1)[1]
    method, url = re.search(r" ([A-Z]+) (https?://\S+) \(\d+ bytes\)", rest).groups()
    fields = json.loads(rest[rest.index(" {") + 1:]) if " {" in rest else {}
    headers = {}
    for h in fields.get("headers", []):
        k, v = h.split(": ", 1)
        headers[k.lower()] = v
    u = urlsplit(url)
    body = fields.get("body", "").encode()
    return {"method": method, "scheme": u.scheme, "host": u.netloc, "path": u.path,
            "query": sorted(parse_qsl(fields.get("query", ""), keep_blank_values=True)),
            "headers": headers, "body": body, "line": line}


def hookhost_requests(hookhost, write, cases, env=None, name="s3"):
    from pathlib import Path
    driver = Path(__file__).resolve().parent / "s3_driver.lua"
    inp = write(f"{name}_in.json", json.dumps(cases))
    out = inp.replace("_in.json", "_out.json")
    p = hookhost("run", "--dry-run", "-v", str(driver), timeout=300,
                 env={**CREDS, "HOOKHOST_S3_IN": inp, "HOOKHOST_S3_OUT": out, **(env or {})})
    assert p.returncode == 0, p.stderr[-3000:]
    lines = [l for l in p.stderr.splitlines() if "dry run: not sent: " in l]
    with open(out) as f:
        answers = json.load(f)
    assert len(answers) == len(cases)
    it = iter(lines)
    res = []
    for a in answers:
        res.append(parse_description(next(it)) if a.get("sent") else {"error": a["error"]})
    assert next(it, None) is None
    return res


def compare(case, mine, theirs, https_unsigned_ok=True):
    """Differences between hookhost's request and botocore's, [] when equal modulo the
    documented ones."""
    if "error" in theirs or "error" in mine:
        assert ("error" in theirs) == ("error" in mine), (case, mine, theirs)
        return []
    diffs = []
    for k in ("method", "scheme", "host", "path", "query", "body"):
        if mine[k] != theirs[k]:
            diffs.append((k, mine[k], theirs[k]))
    hm = {k: v for k, v in mine["headers"].items() if k not in VARYING}
    ht = {k: v for k, v in theirs["headers"].items() if k not in VARYING}
    for k, v in hm.items():
        if v == "***" and "customer-key" in k and k in ht:
            ht[k] = "***"  # SSE-C keys: the description hides their values
    if (ht.get("x-amz-content-sha256") == "UNSIGNED-PAYLOAD" and https_unsigned_ok
            and case["operation"] in ("PutObject", "UploadPart") and theirs["scheme"] == "https"):
        ht["x-amz-content-sha256"] = hashlib.sha256(theirs["body"]).hexdigest()
    if hm != ht:
        diffs.append(("headers", hm, ht))
    if mine["headers"].get("host") != theirs["host"]:
        diffs.append(("host header", mine["headers"].get("host"), theirs["host"]))
    return diffs


def s3_cases(regions, buckets, style=None):
    cases = []
    keys = itertools.cycle(KEYS)
    for region, bucket in itertools.product(regions, buckets):
        key = next(keys)
        base = {"region": region, "style": style}
        cases += [
            {**base, "operation": "GetObject", "params": {"Bucket": bucket, "Key": key}},
            {**base, "operation": "HeadObject",
             "params": {"Bucket": bucket, "Key": key, "VersionId": "v 1"}},
            {**base, "operation": "PutObject",
             "params": {"Bucket": bucket, "Key": key, "Body": "hello " + key,
                        "ContentType": "text/plain", "Metadata": {"a": "b"}}},
            {**base, "operation": "ListObjectsV2",
             "params": {"Bucket": bucket, "Prefix": "dir/sub dir/", "Delimiter": "/",
                        "MaxKeys": 10}},
            {**base, "operation": "ListObjectsV2",
             "params": {"Bucket": bucket, "EncodingType": "url"}},
            {**base, "operation": "DeleteObjects",
             "params": {"Bucket": bucket, "Delete": {"Objects": [{"Key": key}, {"Key": "k2"}],
                                                     "Quiet": True}}},
            {**base, "operation": "CopyObject",
             "params": {"Bucket": bucket, "Key": key, "CopySource": "src-bucket/" + key}},
            {**base, "operation": "CopyObject",
             "params": {"Bucket": bucket, "Key": "k",
                        "CopySource": "src/" + key + "?versionId=v1"}},
            {**base, "operation": "CopyObject",
             "params": {"Bucket": bucket, "Key": "k",
                        "CopySource": {"Bucket": "src", "Key": key, "VersionId": "v2"}}},
            {**base, "operation": "DeleteObject", "params": {"Bucket": bucket, "Key": key}},
            {**base, "operation": "GetObject",
             "params": {"Bucket": bucket, "Key": key, "SSECustomerAlgorithm": "AES256",
                        "SSECustomerKey": "k" * 32}},
            {**base, "operation": "CopyObject",
             "params": {"Bucket": bucket, "Key": key, "CopySource": "s/k",
                        "SSECustomerAlgorithm": "AES256", "SSECustomerKey": "0123456789" * 3 + "ab",
                        "CopySourceSSECustomerAlgorithm": "AES256",
                        "CopySourceSSECustomerKey": "z" * 32}},
            {**base, "operation": "HeadObject",
             "params": {"Bucket": bucket, "Key": key, "SSECustomerAlgorithm": "AES256",
                        "SSECustomerKey": "a2V5", "SSECustomerKeyMD5": "given"}},
            {**base, "operation": "CreateBucket", "params": {"Bucket": bucket}},
        ]
    return cases


def documented(case, endpoint, mine, theirs):
    """botocore's request as hookhost sends it where they differ by design (module doc)."""
    if "error" in theirs or not endpoint:
        return theirs
    u = urlsplit(endpoint)
    t = dict(theirs)
    bucket = case["params"].get("Bucket", "")
    if (case.get("style") == "virtual" and "." in bucket and u.hostname.replace(".", "").isdigit()
            and t["host"] == f"{bucket}.{u.netloc}"):
        # an IP endpoint is always addressed by path (botocore: my.bucket.127.0.0.1)
        t["host"] = u.netloc
        t["path"] = (u.path.rstrip("/") + "/" + bucket + ("" if t["path"] == u.path else
                     t["path"][len(u.path.rstrip("/")):])).rstrip("/") or "/"
    if u.path and t["path"] == u.path and t["host"] != u.netloc:
        t["path"] = u.path + "/"  # virtual, bucket only, on a base path: "/base/"
    return t


def run_and_compare(hookhost, write, cases, endpoint=None, name="s3", https_unsigned_ok=True):
    env = {"AWS_ENDPOINT_URL_S3": endpoint} if endpoint else {}
    mine = hookhost_requests(hookhost, write, cases, env=env, name=name)
    failures, errors = [], 0
    for case, m in zip(cases, mine):
        t = botocore_request(case, endpoint)
        if "error" in t:
            errors += 1
        t = documented(case, endpoint, m, t)
        d = compare(case, m, t, https_unsigned_ok)
        if d:
            failures.append((case, d))
    return len(cases), errors, failures


def test_s3_requests_equal_botocores_default_endpoints(hookhost, write):
    n, errors, failures = run_and_compare(hookhost, write, s3_cases(REGIONS, BUCKETS))
    print(f"\nS3 default endpoints: {n} cases ({len(REGIONS)} regions x {len(BUCKETS)} buckets "
          f"x 14 calls), {errors} refused by both, {len(failures)} different")
    assert not failures, failures[:3]
    assert n - errors > 1000


@pytest.mark.parametrize("endpoint", ["http://localhost:9000", "http://127.0.0.1:9000",
                                      "https://s3.example.com/base"])
@pytest.mark.parametrize("style", [None, "path", "virtual"])
def test_s3_requests_equal_botocores_custom_endpoints(hookhost, write, endpoint, style):
    cases = s3_cases(["eu-west-1"], BUCKETS, style)
    n, errors, failures = run_and_compare(hookhost, write, cases, endpoint=endpoint)
    print(f"\nS3 {endpoint} style {style}: {n} cases, {errors} refused by both, "
          f"{len(failures)} different")
    assert not failures, failures[:3]


def test_s3_style_path_and_virtual_on_aws(hookhost, write):
    cases = s3_cases(["eu-west-1", "us-east-1"], BUCKETS, "path")
    cases += s3_cases(["eu-west-1", "us-east-1"], BUCKETS, "virtual")
    n, errors, failures = run_and_compare(hookhost, write, cases)
    print(f"\nS3 addressing_style path/virtual on AWS: {n} cases, {len(failures)} different")
    assert not failures, failures[:3]


def test_s3_flexible_checksums(hookhost, write):
    """SHA256 and SHA1: the x-amz-checksum-* header (base64 digest) and
    x-amz-sdk-checksum-algorithm as botocore sends them, no Content-MD5 then. Streaming uploads
    are compared on an http endpoint (botocore's trailer over https is a documented difference);
    DeleteObjects (not streaming) on AWS's https endpoint too."""
    total = 0
    for endpoint, style in [("http://localhost:9000", None), ("http://localhost:9000", "virtual")]:
        cases = []
        for alg, key, bucket in itertools.product(["SHA256", "SHA1", "sha256"], KEYS,
                                                  ["mybucket", "my.bucket"]):
            base = {"region": "eu-west-1", "style": style}
            cases += [
                {**base, "operation": "PutObject",
                 "params": {"Bucket": bucket, "Key": key, "Body": "data " + key * 3,
                            "ChecksumAlgorithm": alg}},
                {**base, "operation": "UploadPart",
                 "params": {"Bucket": bucket, "Key": key, "Body": "part", "PartNumber": 2,
                            "UploadId": "u-1", "ChecksumAlgorithm": alg}},
                {**base, "operation": "DeleteObjects",
                 "params": {"Bucket": bucket, "ChecksumAlgorithm": alg,
                            "Delete": {"Objects": [{"Key": key}]}}},
            ]
        n, errors, failures = run_and_compare(hookhost, write, cases, endpoint=endpoint,
                                              name="ck", https_unsigned_ok=False)
        assert not failures, failures[:3]
        assert errors == 0
        total += n
    cases = [{"region": r, "operation": "DeleteObjects",
              "params": {"Bucket": "mybucket", "ChecksumAlgorithm": alg,
                         "Delete": {"Objects": [{"Key": k}]}}}
             for r, alg, k in itertools.product(REGIONS, ["SHA256", "SHA1"], KEYS)]
    n, errors, failures = run_and_compare(hookhost, write, cases, name="ck2")
    assert not failures, failures[:3]
    total += n
    print(f"\nS3 flexible checksums: {total} cases, 0 different")
    mine = hookhost_requests(hookhost, write, [
        {"region": "eu-west-1", "operation": "PutObject",
         "params": {"Bucket": "b12", "Key": "k", "Body": "x", "ChecksumAlgorithm": alg}}
        for alg in ("CRC32", "CRC32C", "MD5")], name="ck3")
    for m, alg in zip(mine, ("CRC32", "CRC32C", "MD5")):
        assert f'ChecksumAlgorithm "{alg}" is not supported: use "SHA256" or "SHA1"' in m["error"]


def test_us_east_1_global_endpoint(hookhost, write):
    """The one documented difference of addressing: botocore 1.29's default in us-east-1 is the
    legacy global endpoint; hookhost's is the regional one (both are AWS's)."""
    case = {"region": "us-east-1", "operation": "GetObject",
            "params": {"Bucket": "mybucket", "Key": "k"}}
    (mine,) = hookhost_requests(hookhost, write, [case])
    session = botocore.session.get_session()
    c = session.create_client("s3", region_name="us-east-1", aws_access_key_id="a",
                              aws_secret_access_key="b")
    cap = {}

    def before_send(request, **kw):
        cap["r"] = request
        raise Stop()

    c.meta.events.register("before-send", before_send)
    with pytest.raises(Stop):
        c.get_object(Bucket="mybucket", Key="k")
    assert urlsplit(cap["r"].url).netloc == "mybucket.s3.amazonaws.com"
    assert mine["host"] == "mybucket.s3.us-east-1.amazonaws.com"


def test_bucket_names_are_checked_before_they_reach_a_url(hookhost, write):
    bad = ["a/b", "../x", "a b", "bucket?x", "", "b" * 256, "é", "a#b", "arn:aws:s3:::x"]
    cases = [{"region": "eu-west-1", "operation": "GetObject", "params": {"Bucket": b, "Key": "k"}}
             for b in bad]
    mine = hookhost_requests(hookhost, write, cases)
    for b, m in zip(bad, mine):
        assert "error" in m, (b, m)
        assert f'Invalid bucket name "{b}"' in m["error"] or (b == "" and "Bucket" in m["error"])
        assert "Parameter validation failed" in m["error"]
    # and an addressing_style that is not one
    p = hookhost("run", write("bad.lua", 'return function() require("hookhost.aws").client('
                              '"s3", {addressing_style = "dns"}) end\n'))
    assert p.returncode == 1
    assert 'addressing_style must be "auto", "virtual" or "path"' in p.stdout + p.stderr


UNSIGNED = [
    ("sts", "AssumeRoleWithWebIdentity", {"RoleArn": "arn:aws:iam::123456789012:role/r",
                                          "RoleSessionName": "ss", "WebIdentityToken": "t" * 20}),
    ("sts", "AssumeRoleWithSAML", {"RoleArn": "arn:aws:iam::123456789012:role/r",
                                   "PrincipalArn": "arn:aws:iam::123456789012:saml-provider/p",
                                   "SAMLAssertion": "a" * 10}),
    ("cognito-identity", "GetId", {"IdentityPoolId": "eu-west-1:abc"}),
    ("cognito-identity", "GetOpenIdToken", {"IdentityId": "eu-west-1:id"}),
    ("cognito-identity", "GetCredentialsForIdentity", {"IdentityId": "eu-west-1:id"}),
    ("cognito-identity", "UnlinkIdentity", {"IdentityId": "eu-west-1:id", "Logins": {"a": "b"},
                                            "LoginsToRemove": ["a"]}),
    ("sso", "GetRoleCredentials", {"roleName": "r", "accountId": "123456789012",
                                   "accessToken": "tok"}),
    ("sso", "ListAccounts", {"accessToken": "tok"}),
    ("sso-oidc", "RegisterClient", {"clientName": "c", "clientType": "public"}),
    ("cognito-idp", "InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": "c",
                                     "AuthParameters": {"USERNAME": "u"}}),
    ("ebs", "PutSnapshotBlock", {"SnapshotId": "snap-1", "BlockIndex": 1, "BlockData": "x" * 10,
                                 "DataLength": 10, "Checksum": "abc",
                                 "ChecksumAlgorithm": "SHA256"}),
    ("sts", "GetCallerIdentity", {}),
]


def test_unsigned_operations_as_botocore(hookhost, write):
    """authtype none (and botocore's disable_signing list): no Authorization, X-Amz-Date or
    X-Amz-Security-Token, and no credentials needed; v4-unsigned-body: signed, with
    x-amz-content-sha256: UNSIGNED-PAYLOAD. A signed operation stays signed. Hosts are not
    compared (STS: botocore 1.29 calls the global endpoint)."""
    cases = [{"service": s, "region": "eu-west-1", "operation": op, "params": p}
             for s, op, p in UNSIGNED]
    mine = hookhost_requests(hookhost, write, cases, name="unsigned")
    checked = 0
    for case, m in zip(cases, mine):
        assert "error" not in m, (case, m)
        t = botocore_request(case, None)
        assert "error" not in t, (case, t)
        for name in ("authorization", "x-amz-date", "x-amz-security-token",
                     "x-amz-content-sha256"):
            assert (name in m["headers"]) == (name in t["headers"]), (case, name, m, t)
        if "x-amz-content-sha256" in t["headers"]:
            assert m["headers"]["x-amz-content-sha256"] == t["headers"]["x-amz-content-sha256"]
        hm = {k: v for k, v in m["headers"].items() if k not in VARYING}
        ht = {k: v for k, v in t["headers"].items() if k not in VARYING}
        for k, v in hm.items():
            if v == "***":  # a secret-looking header: the description hides its value
                ht[k] = "***"
        assert hm == ht, (case, hm, ht)
        if t["headers"].get("content-type", "").startswith("application/x-www-form-urlencoded"):
            # query forms: the same pairs (test_differential.py compares them so too)
            assert sorted(parse_qsl(m["body"].decode())) == sorted(parse_qsl(t["body"].decode()))
        elif m["body"] != t["body"]:
            assert json.loads(m["body"] or "{}") == json.loads(t["body"] or "{}"), (case, m, t)
        assert m["path"] == t["path"] and m["query"] == t["query"]
        assert ("(unsigned operation)" in m["line"]) == ("authorization" not in t["headers"])
        checked += 1
    print(f"\nunsigned operations: {checked} compared, 0 different")
    # no credentials at all: the unsigned ones are still described, unsigned
    mine = hookhost_requests(hookhost, write, cases[:2], name="nocreds",
                             env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
                                  "AWS_SESSION_TOKEN": ""})
    for m in mine:
        assert "(unsigned operation)" in m["line"] and "not signed" not in m["line"]


# ---- end to end: the real binary against the S3 emulator (every signature verified) --------


@pytest.fixture
def emu():
    e = Emulators.start()
    try:
        yield e
        assert e.signature_failures == 0
    finally:
        e.stop()


@pytest.fixture
def run(hookhost, write):
    """run(body, env) -> (proc, result): body is a chunk returning a hook function."""
    n = [0]

    def go(body, env):
        n[0] += 1
        script = write(f"e2e{n[0]}.lua", 'local aws = require("hookhost.aws")\n' + body)
        p = hookhost("run", script, env=env, timeout=120)
        assert DEFAULT_SECRET_KEY not in p.stdout + p.stderr
        lines = [l for l in p.stdout.splitlines() if l.strip()]
        assert lines, p.stderr
        out = json.loads(lines[-1])
        return p, out.get("result", out)

    return go


E2E = """
return function()
  local s3 = aws.client("s3" OPTS)
  local out = {puts = {}, gets = {}}
  local keys = {"plain", "a b+c~d/\\u{e9}", "dir/sub dir/f(1).txt", "x=1&y=2?z", "\\u{fc}/\\u{2713}/%41",
                "~t*'!"}
  for i, k in ipairs(keys) do
    local r = assert(s3:put_object{Bucket = "bkt", Key = k, Body = k .. k, ContentType = "text/plain",
                                   Metadata = {n = tostring(i)}})
    out.puts[i] = r.ETag
  end
  for i, k in ipairs(keys) do
    local g = assert(s3:get_object{Bucket = "bkt", Key = k})
    out.gets[i] = {body = g.Body, ctype = g.ContentType, meta = g.Metadata, len = g.ContentLength}
  end
  local h = assert(s3:head_object{Bucket = "bkt", Key = "plain"})
  out.head = {len = h.ContentLength, etag = h.ETag}
  local listed = {}
  for page in s3:paginate("list_objects_v2", {Bucket = "bkt"}, {page_size = 2}) do
    for _, c in ipairs(page.Contents or {}) do listed[#listed + 1] = c.Key end
  end
  out.listed = listed
  local d = assert(s3:list_objects_v2{Bucket = "bkt", Delimiter = "/"})
  out.prefixes = {}
  for _, p in ipairs(d.CommonPrefixes or {}) do out.prefixes[#out.prefixes + 1] = p.Prefix end
  assert(s3:put_object{Bucket = "bkt", Key = "sum", Body = "checked", ChecksumAlgorithm = "SHA256"})
  assert(s3:put_object{Bucket = "bkt", Key = "sum1", Body = "checked", ChecksumAlgorithm = "SHA1"})
  assert(s3:delete_object{Bucket = "bkt", Key = "plain"})
  local del = assert(s3:delete_objects{Bucket = "bkt", Delete = {Objects = {{Key = keys[2]}, {Key = keys[3]}}}})
  out.deleted = #del.Deleted
  local _, err = s3:get_object{Bucket = "bkt", Key = "plain"}
  out.missing = {code = err.code, status = err.status}
  return out
end
"""


@pytest.mark.parametrize("style", ["auto", "virtual"])
def test_s3_client_against_the_emulator(emu, run, style):
    """Path style on the emulator's endpoint (auto), and virtual-hosted (bucket.localhost:PORT,
    which libcurl resolves to the loopback) when asked: S3's key encoding, list decoding
    (EncodingType=url), checksums and Content-MD5 checked by the emulator."""
    emu.seed_bucket("bkt")
    env = emu.env()
    opts = ""
    if style == "virtual":
        env["AWS_ENDPOINT_URL_S3"] = emu.s3_url.replace("127.0.0.1", "localhost")
        opts = ', {addressing_style = "virtual"}'
    p, r = run(E2E.replace("OPTS", opts), env)
    assert p.returncode == 0, p.stderr
    keys = ["plain", "a b+c~d/é", "dir/sub dir/f(1).txt", "x=1&y=2?z", "ü/✓/%41", "~t*'!"]
    for i, k in enumerate(keys):
        assert r["gets"][i] == {"body": k + k, "ctype": "text/plain", "meta": {"n": str(i + 1)},
                                "len": len((k + k).encode())}
        assert r["puts"][i] == '"%s"' % hashlib.md5((k + k).encode()).hexdigest()
    assert r["head"] == {"len": 10, "etag": r["puts"][0]}
    assert r["listed"] == sorted(keys)
    assert r["prefixes"] == ["a b+c~d/", "dir/", "ü/"]
    assert r["deleted"] == 2 and r["missing"] == {"code": "NoSuchKey", "status": 404}
    assert set(emu.objects("bkt")) == {"x=1&y=2?z", "ü/✓/%41", "~t*'!", "sum", "sum1"}
    reqs = emu.requests("s3")
    assert all(q["signature"] == "ok" for q in reqs) and len(reqs) >= 20
    paths = [q["path"] for q in reqs if q["operation"] == "GetObject"]
    if style == "virtual":
        assert paths[1] == "/a%20b%2Bc~d/%C3%A9"
    else:
        assert paths[1] == "/bkt/a%20b%2Bc~d/%C3%A9"


def test_too_large_get_object_fails_clearly(emu, run):
    """GetObject of an object over the response limit (16 MiB, HTTP_DEFAULT_MAX_BODY): a
    ResponseTooLarge error, not retried, and the hook goes on (memory stays bounded)."""
    emu.seed_bucket("bkt")
    emu.seed_object("bkt", "big", b"x" * (16 * 1024 * 1024 + 1))
    emu.seed_object("bkt", "fits", b"y" * (16 * 1024 * 1024))
    p, r = run("""
return function()
  local s3 = aws.client("s3")
  local ok, err = s3:get_object{Bucket = "bkt", Key = "big"}
  local fits = assert(s3:get_object{Bucket = "bkt", Key = "fits"})
  return {ok = ok ~= nil, code = err.code, status = err.status, attempts = err.attempts,
          text = tostring(err), fits = #fits.Body}
end
""", emu.env())
    assert p.returncode == 0, p.stderr
    assert r["ok"] is False and r["code"] == "ResponseTooLarge" and r["attempts"] == 1
    assert r["fits"] == 16 * 1024 * 1024
    assert "ResponseTooLarge" in r["text"]
    print("\ntoo large:", r["text"])
    gets = [q for q in emu.requests("s3") if q["operation"] == "GetObject"]
    assert len(gets) == 2


class _Recorder(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        self.server.seen.append((self.command, self.path, self.headers, body))
        answer = self.server.answer
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_PUT = do_POST

    def log_message(self, *a):
        pass


@pytest.fixture
def recorder():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    srv.seen, srv.answer = [], b""
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_unsigned_operations_go_out_unsigned(run, recorder):
    """authtype none over the network: no credentials anywhere, and no Authorization,
    X-Amz-Date or X-Amz-Security-Token arrives; v4-unsigned-body: signed over UNSIGNED-PAYLOAD
    (the signature checked with botocore's signer)."""
    url = f"http://127.0.0.1:{recorder.server_address[1]}"
    recorder.answer = (b'<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/'
                       b'2011-06-15/"><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>'
                       b'ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t'
                       b'</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>'
                       b'</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>')
    p, r = run("""
return function()
  local sts = aws.client("sts")
  local out = assert(sts:assume_role_with_web_identity{RoleArn = "arn:aws:iam::123456789012:role/r",
      RoleSessionName = "ss", WebIdentityToken = "eyJ.token"})
  return {key = out.Credentials.AccessKeyId}
end
""", {"AWS_ENDPOINT_URL_STS": url, "AWS_REGION": "eu-west-1", "HOME": "/nonexistent",
      "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"})
    assert p.returncode == 0, p.stderr
    assert r == {"key": "ASIA1"}
    (method, path, headers, body) = recorder.seen[0]
    for h in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256"):
        assert h not in headers
    assert b"WebIdentityToken=eyJ.token" in body

    recorder.seen.clear()
    recorder.answer = b""
    env = {"AWS_ENDPOINT_URL_EBS": url, "AWS_REGION": "eu-west-1", "HOME": "/nonexistent",
           "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
           "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": DEFAULT_SECRET_KEY}
    p, r = run("""
return function()
  local ebs = aws.client("ebs")
  local _, err = ebs:put_snapshot_block{SnapshotId = "snap-1", BlockIndex = 1,
      BlockData = "0123456789", DataLength = 10, Checksum = "abc", ChecksumAlgorithm = "SHA256"}
  return {err = err and tostring(err)}
end
""", env)
    assert p.returncode == 0, p.stderr
    (method, path, headers, body) = recorder.seen[0]
    assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD" and body == b"0123456789"
    # the signature, re-computed by botocore over UNSIGNED-PAYLOAD (the path needs no S3 rule)
    Verifier("ebs", "eu-west-1", {"AKIDEXAMPLE": DEFAULT_SECRET_KEY}, s3=True).verify(
        method, path, headers, body)


def test_core_request_checks_auth_and_host_prefix(run):
    """The raw call's new fields: a bad auth raises, a host prefix that is not host labels is
    an InvalidEndpoint error before anything is sent (here with the emulators' endpoint unset,
    a dry run: nothing could be sent anyway)."""
    p, r = run("""
return function()
  local ok, e = pcall(aws.request, {service = "s3", auth = "v5"})
  local st, err = aws.request{service = "s3", host_prefix = "Bad_Label."}
  local st2, err2 = aws.request{service = "s3", host_prefix = "a/b."}
  return {raised = tostring(e), code = err.code, msg = err.message, code2 = err2.code}
end
""", {"AWS_REGION": "eu-west-1", "HOME": "/nonexistent"})
    assert p.returncode == 0, p.stderr
    assert 'auth\' must be "v4", "none" or "v4-unsigned-body"' in r["raised"]
    assert r["code"] == "InvalidEndpoint" and r["code2"] == "InvalidEndpoint"
    assert "host prefix 'Bad_Label.' is not host labels" in r["msg"]


def test_sse_c_keys_are_not_shown_by_a_verbose_dry_run(hookhost, write):
    key = "secret-customer-key-0123456789ab"
    mine = hookhost_requests(hookhost, write, [
        {"region": "eu-west-1", "operation": "GetObject",
         "params": {"Bucket": "bkt", "Key": "k", "SSECustomerAlgorithm": "AES256",
                    "SSECustomerKey": key}}], name="ssec")
    (m,) = mine
    assert m["headers"]["x-amz-server-side-encryption-customer-key"] == "***"
    assert key not in m["line"] and base64.b64encode(key.encode()).decode() not in m["line"]
