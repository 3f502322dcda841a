"""hookhost's SigV4 signer against botocore's, byte for byte, on seeded random requests.

Every case goes through one process, $HOOKHOST_BUILD/tools/sigv4_batch (JSON lines in and out),
and through botocore's own signer classes (SigV4Auth, S3SigV4Auth, SigV4QueryAuth,
S3SigV4QueryAuth) driven stage by stage with a fixed timestamp. The canonical request, the string
to sign, the signature and the Authorization value (or the presigned query) must be identical.

Requests are built the way botocore builds them on the wire: path labels percent-encoded with
percent_encode(value, safe='/~'), the query with percent_encode_sequence. Where botocore and AWS
differ, hookhost follows what the services verify, and the generator avoids those shapes:

* Connection, Transfer-Encoding and Upgrade are never signed by hookhost (hop-by-hop headers that
  curl may change after signing; aws-c-auth skips them too); botocore signs anything but
  Expect, User-Agent and X-Amzn-Trace-Id. Not generated.
* A Date header makes botocore rewrite it and drop X-Amz-Date; hookhost always signs X-Amz-Date.
  Not generated.
* S3 paths carrying raw (unencoded) sub-delimiters: botocore signs them raw, hookhost encodes
  them (as S3 decodes and re-encodes the path it receives). botocore never sends such paths, so
  S3 paths are always botocore-encoded here.
* Presigned (query) mode in botocore moves a request body into the query string, drops a
  "application/x-www-form-urlencoded; charset=utf-8" Content-Type and keeps one value per
  repeated key (parse_qs); hookhost signs the request as given (the AWS test suite's behaviour).
  Query-mode cases therefore have no body, no such Content-Type and no repeated keys.
* Empty pieces in a query string ("a=1&&b=2") are skipped by hookhost; botocore would sign an
  empty "=" pair. botocore never produces them.
* Header values are compared with ASCII whitespace only (Python's str.split() also splits on a
  few Unicode spaces, which no AWS header carries).
"""

import hashlib
import json
import os
import random
import subprocess
from urllib.parse import quote

import pytest

botocore = pytest.importorskip("botocore")
from botocore.auth import (  # noqa: E402
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
    SigV4QueryAuth,
)
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402
from botocore.utils import percent_encode  # noqa: E402

SEED = 20261126
HEADER_CASES = 1200
QUERY_CASES = 400

BUILD = os.environ.get("HOOKHOST_BUILD", "build")
BATCH = os.path.join(BUILD, "tools", "sigv4_batch")

SERVICES = ["codedeploy", "cloudfront", "lambda", "sts", "dynamodb", "execute-api", "s3", "s3"]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1"]
SEGMENT_PIECES = [
    "a", "key", "2020-05-31", "distribution", "E2ABC", "x_y", "~tilde", "-dash",
    "caf\u00e9", "\u1234", "\u65e5\u672c", "\U0001f600", "a b", "sp  ace", "plus+sign",
    "q?mark", "hash#", "amp&er", "eq=al", "col:on", "at@", "semi;", "comma,", "star*",
    "paren()", "bang!", "dollar$", "quote'", "pct%25", "pct%", "%2F", "\"dq\"", "<lt>",
]
QUERY_PIECES = [
    "a", "b", "Param", "param", "Action", "Version", "list-type", "prefix", "x y", "a+b",
    "caf\u00e9", "\u1234", "k=v", "a&b", "%", "~", "/slash/", "", "max-keys", "9",
]
HEADER_NAMES = [
    "Content-Type", "X-Amz-Target", "X-Amz-Meta-Owner", "x-custom", "X-CUSTOM", "Accept",
    "Cache-Control", "If-Match", "Range", "X-Amz-Acl", "Content-Encoding", "x-amz-user-agent",
]
NEVER_SIGNED = ["User-Agent", "Expect", "X-Amzn-Trace-Id"]
VALUE_WORDS = ["application/json", "v1", "a", "b c", "x-amz-json-1.1", "*", "1-2-3", '"q"', "e=mc2"]


def odd_spacing(rng, words):
    """Join words with runs of spaces and tabs, with optional leading and trailing runs."""
    seps = [" ", "  ", "\t", " \t ", "   "]
    out = rng.choice(["", " ", "  ", "\t"]) if rng.random() < 0.4 else ""
    for i, w in enumerate(words):
        if i:
            out += rng.choice(seps) if rng.random() < 0.5 else " "
        out += w
    if rng.random() < 0.4:
        out += rng.choice([" ", "  ", "\t", " \t"])
    return out


def random_path(rng, s3):
    segs = []
    for _ in range(rng.randint(0, 6)):
        r = rng.random()
        if r < 0.12 and not s3:
            segs.append(rng.choice([".", ".."]))
        elif r < 0.2:
            segs.append("")  # an empty segment: "//"
        else:
            segs.append("".join(rng.choice(SEGMENT_PIECES) for _ in range(rng.randint(1, 3))))
    if s3 and rng.random() < 0.2:
        segs.append(rng.choice([".", ".."]))  # S3 keys may hold dot segments: kept as sent
    raw = "/" + "/".join(segs)
    if rng.random() < 0.3:
        raw += "/"
    return percent_encode(raw, safe="/~")


def random_query(rng, unique):
    pairs = []
    keys = set()
    for _ in range(rng.choice([0, 0, 1, 2, 3, 5])):
        k = rng.choice(QUERY_PIECES) + (rng.choice(QUERY_PIECES) if rng.random() < 0.3 else "")
        if not k or (unique and k in keys):
            continue
        if not unique and pairs and rng.random() < 0.25:
            k = pairs[-1][0]  # a repeated key, with another value
        keys.add(k)
        v = "" if rng.random() < 0.2 else rng.choice(QUERY_PIECES) + rng.choice(QUERY_PIECES)
        pairs.append((k, v, rng.random() < 0.1 and v == ""))
    parts = []
    for k, v, bare in pairs:
        ek = percent_encode(k)
        parts.append(ek if bare else ek + "=" + percent_encode(v))
    return "&".join(parts)


def random_headers(rng, host, allow_dupes, allow_form_ct=True):
    headers = [("Host", host)]
    for _ in range(rng.randint(0, 6)):
        name = rng.choice(HEADER_NAMES)
        words = [rng.choice(VALUE_WORDS) for _ in range(rng.randint(1, 3))]
        headers.append((name, odd_spacing(rng, words)))
        if allow_dupes and rng.random() < 0.2:
            other = name.lower() if rng.random() < 0.5 else name
            headers.append((other, odd_spacing(rng, [rng.choice(VALUE_WORDS)])))
    if rng.random() < 0.3:
        headers.append((rng.choice(NEVER_SIGNED), "hookhost/0.1 test"))
    if rng.random() < 0.05:
        headers.append(("X-Amz-Date", "19990101T000000Z"))  # stale: replaced by the signer
    if allow_form_ct and rng.random() < 0.05:
        headers.append(("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"))
    rng.shuffle(headers)
    return headers


def random_body(rng):
    r = rng.random()
    if r < 0.3:
        return b""
    if r < 0.6:
        return json.dumps({"k": rng.random(), "s": "caf\u00e9 \u1234"}).encode()
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))


def random_token(rng):
    if rng.random() < 0.5:
        return ""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 400)))


def random_date(rng):
    return "20%02d%02d%02dT%02d%02d%02dZ" % (
        rng.randint(15, 30), rng.randint(1, 12), rng.randint(1, 28),
        rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
    )


def make_cases():
    rng = random.Random(SEED)
    cases = []
    for i in range(HEADER_CASES + QUERY_CASES):
        query_mode = i >= HEADER_CASES
        service = rng.choice(SERVICES)
        s3 = service == "s3"
        host = "%s.%s.amazonaws.com" % (service, rng.choice(REGIONS))
        case = {
            "mode": "query" if query_mode else "header",
            "method": rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD"]),
            "path": random_path(rng, s3),
            "query": random_query(rng, unique=query_mode),
            "headers": random_headers(rng, host, allow_dupes=True, allow_form_ct=not query_mode),
            "body": b"" if query_mode else random_body(rng),
            "access_key": "AKID%016d" % rng.randint(0, 10**15),
            "secret_key": "".join(rng.choice("ABCDEFabcdef0123456789/+") for _ in range(40)),
            "token": random_token(rng),
            "region": rng.choice(REGIONS),
            "service": service,
            "amz_date": random_date(rng),
            "expires": rng.choice([1, 60, 3600, 604800]),
        }
        cases.append(case)
    return cases


def to_batch_line(c):
    s3 = c["service"] == "s3"
    line = {
        "mode": c["mode"],
        "method": c["method"],
        "path": c["path"],
        "query": c["query"],
        "headers": [list(h) for h in c["headers"]],
        "body_hex": c["body"].hex(),
        "access_key": c["access_key"],
        "secret_key": c["secret_key"],
        "token": c["token"],
        "region": c["region"],
        "service": c["service"],
        "amz_date": c["amz_date"],
        "expires": c["expires"],
        "normalize": not s3,
        "double_encode": not s3,
        "sign_body": s3 and c["mode"] == "header",
    }
    if s3 and c["mode"] == "query":
        line["payload_hash"] = "UNSIGNED-PAYLOAD"
    return json.dumps(line)


def botocore_sign(c):
    """botocore's stages for one case, with the case's timestamp instead of the clock."""
    s3 = c["service"] == "s3"
    creds = Credentials(c["access_key"], c["secret_key"], c["token"] or None)
    if c["mode"] == "query":
        cls = S3SigV4QueryAuth if s3 else SigV4QueryAuth
        auth = cls(creds, c["service"], c["region"], expires=c["expires"])
    else:
        auth = (S3SigV4Auth if s3 else SigV4Auth)(creds, c["service"], c["region"])
    url = "https://%s%s" % (dict(c["headers"])["Host"] if "Host" in dict(c["headers"]) else "h",
                            c["path"])
    if c["query"]:
        url += "?" + c["query"]
    req = AWSRequest(method=c["method"], url=url, data=c["body"])
    for name, value in c["headers"]:
        req.headers[name] = value  # HTTPMessage appends: repeated headers are kept in order
    req.context["timestamp"] = c["amz_date"]
    auth._modify_request_before_signing(req)
    creq = auth.canonical_request(req)
    sts = auth.string_to_sign(req, creq)
    sig = auth.signature(sts, req)
    auth._inject_signature_to_request(req, sig)
    out = {"canonical_request": creq, "string_to_sign": sts, "signature": sig}
    if c["mode"] == "query":
        out["query"] = req.url.split("?", 1)[1]
    else:
        out["authorization"] = req.headers["Authorization"]
        out["token"] = req.headers.get("X-Amz-Security-Token")
    return out


@pytest.fixture(scope="module")
def results():
    if not os.path.exists(BATCH):
        pytest.skip("%s is missing: build it with `make unit` (or set HOOKHOST_BUILD)" % BATCH)
    cases = make_cases()
    stdin = "\n".join(to_batch_line(c) for c in cases) + "\n"
    proc = subprocess.run([BATCH], input=stdin.encode(), capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == len(cases)
    return cases, [json.loads(line) for line in lines]


def sorted_query_params(q):
    """The URL's parameters as a sorted list; botocore re-serialises a bare "key" as "key=",
    hookhost keeps the request's own query as given (both sign "key=")."""
    return sorted(p if "=" in p else p + "=" for p in q.split("&"))


def compare(cases, outs, mode):
    failures, n = [], 0
    for i, (c, got) in enumerate(zip(cases, outs)):
        if c["mode"] != mode:
            continue
        n += 1
        want = botocore_sign(c)
        problems = []
        if "error" in got:
            problems.append("hookhost error: %s" % got["error"])
        else:
            for k in ("canonical_request", "string_to_sign", "signature"):
                if got[k] != want[k]:
                    problems.append("%s differs:\n  hookhost: %r\n  botocore: %r" % (k, got[k], want[k]))
            if mode == "header":
                hdrs = dict((h[0], h[1]) for h in got["headers"])
                if hdrs.get("Authorization") != want["authorization"]:
                    problems.append("Authorization differs")
                if hdrs.get("X-Amz-Security-Token") != want["token"]:
                    problems.append("X-Amz-Security-Token differs")
                if c["service"] == "s3":
                    expect = hashlib.sha256(c["body"]).hexdigest()
                    if hdrs.get("x-amz-content-sha256") != expect:
                        problems.append("x-amz-content-sha256 differs")
            else:
                # same parameters in the URL (botocore orders them differently)
                if sorted_query_params(got["query"]) != sorted_query_params(want["query"]):
                    problems.append("presigned query differs:\n  hookhost: %r\n  botocore: %r"
                                    % (got["query"], want["query"]))
        if problems:
            failures.append("case %d (%s %s %s?%s):\n%s" % (
                i, c["service"], c["method"], c["path"], c["query"], "\n".join(problems)))
    return n, failures


@pytest.mark.parametrize("mode,minimum", [("header", HEADER_CASES), ("query", QUERY_CASES)])
def test_botocore_agrees(results, mode, minimum):
    cases, outs = results
    n, failures = compare(cases, outs, mode)
    assert n == minimum
    print("%s mode: %d random cases compared with botocore" % (mode, n))
    assert not failures, "%d of %d cases differ; first ones:\n%s" % (
        len(failures), n, "\n\n".join(failures[:5]))


def test_generator_covers_the_edges(results):
    """The random cases really contain the shapes the comparison is meant to exercise."""
    cases, _ = results
    joined_paths = " ".join(c["path"] for c in cases)
    assert "/../" in joined_paths or joined_paths.count("/..") > 0
    assert "%25" in joined_paths and "%E1%88%B4" in joined_paths
    assert any("//" in c["path"] for c in cases)
    assert any(c["service"] == "s3" for c in cases) and any(c["service"] != "s3" for c in cases)
    assert any(c["token"] for c in cases) and any(not c["token"] for c in cases)
    assert any(any(b >= 0x80 for b in c["body"]) for c in cases)
    assert any("=&" in c["query"] or c["query"].endswith("=") for c in cases)
    assert any(len({h[0].lower() for h in c["headers"]}) < len(c["headers"]) for c in cases)
    assert any(any("\t" in h[1] or "  " in h[1] for h in c["headers"]) for c in cases)
    keys = [[p.split("=")[0] for p in c["query"].split("&")] for c in cases if c["query"]]
    assert any(len(set(k)) < len(k) for k in keys)
