"""S3 through botocore (the reference client): objects, lists, deletes, digests, signatures with
S3's rules, path and virtual-host addressing."""

import hashlib

import botocore.session
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from emulators import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from emulators.clients import send, sign


def s3_client(emu, style="path", secret=DEFAULT_SECRET_KEY, endpoint=None, **s3cfg):
    return botocore.session.get_session().create_client(
        "s3", endpoint_url=endpoint or emu.s3_url, region_name="us-east-1",
        aws_access_key_id=DEFAULT_ACCESS_KEY, aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": style, **s3cfg}, retries={"max_attempts": 1}))


@pytest.fixture
def s3(emu):
    emu.seed_bucket("bkt")
    return s3_client(emu)


KEYS = ["k", "a b+c~d/é", "dir/sub dir/f(1).txt", "x=1&y=2?z", "ü/✓/%41", "~t*'!"]


def test_put_get_head_list_delete(emu, s3):
    for k in KEYS:
        s3.put_object(Bucket="bkt", Key=k, Body=k.encode() * 2, ContentType="text/plain",
                      Metadata={"who": "test"})
    assert emu.objects("bkt") == {k: k.encode() * 2 for k in KEYS}
    g = s3.get_object(Bucket="bkt", Key="a b+c~d/é")
    assert g["Body"].read() == "a b+c~d/é".encode() * 2
    assert g["ContentType"] == "text/plain" and g["Metadata"] == {"who": "test"}
    h = s3.head_object(Bucket="bkt", Key="k")
    assert h["ContentLength"] == 2 and h["ETag"] == '"%s"' % hashlib.md5(b"kk").hexdigest()
    listed = s3.list_objects_v2(Bucket="bkt")  # botocore asks encoding-type=url and decodes
    assert [c["Key"] for c in listed["Contents"]] == sorted(KEYS)
    d = s3.list_objects_v2(Bucket="bkt", Delimiter="/", Prefix="")
    assert [p["Prefix"] for p in d["CommonPrefixes"]] == ["a b+c~d/", "dir/", "ü/"]
    page = s3.list_objects_v2(Bucket="bkt", MaxKeys=2)
    assert page["IsTruncated"] and len(page["Contents"]) == 2
    rest = s3.list_objects_v2(Bucket="bkt", ContinuationToken=page["NextContinuationToken"])
    assert [c["Key"] for c in page["Contents"] + rest["Contents"]] == sorted(KEYS)
    s3.delete_object(Bucket="bkt", Key="k")
    r = s3.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": k} for k in KEYS[1:3]]})
    assert sorted(x["Key"] for x in r["Deleted"]) == sorted(KEYS[1:3])
    assert set(emu.objects("bkt")) == set(KEYS[3:])
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="bkt", Key="k")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="bkt", Key="k")
    assert e.value.response["Error"]["Code"] == "404"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="nope", Key="k")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
    assert emu.signature_failures == 0


def s3_raw(emu, method, host, path, body=b"", headers=None):
    """A request signed by botocore's S3SigV4Auth for Host `host`, sent to the emulator."""
    req = AWSRequest(method=method, url=f"http://{host}{path}", data=body,
                     headers=dict(headers or {}))
    S3SigV4Auth(Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY), "s3", "us-east-1").add_auth(req)
    h = dict(req.headers.items())
    h["Host"] = host
    return send(emu.s3_url + path, method, body, h)


def test_create_bucket_and_virtual_hosts(emu):
    """The bucket in the Host header (bucket.localhost:PORT, which libcurl resolves to the
    loopback; Python's resolver does not, so the request goes to 127.0.0.1 by hand)."""
    port = emu.s3_url.rsplit(":", 1)[1]
    status, _, body = s3_raw(emu, "PUT", f"vbucket.localhost:{port}", "/")
    assert status == 200, body
    status, _, body = s3_raw(emu, "PUT", f"vbucket.localhost:{port}", "/a%20b", b"v")
    assert status == 200, body
    status, _, body = s3_raw(emu, "GET", f"vbucket.127.0.0.1:{port}", "/a%20b")
    assert (status, body) == (200, b"v")
    assert emu.objects("vbucket") == {"a b": b"v"}
    assert [r["path"] for r in emu.requests("s3")] == ["/", "/a%20b", "/a%20b"]
    assert emu.signature_failures == 0


def test_checksums_and_unsigned_payload(emu, s3):
    s3.put_object(Bucket="bkt", Key="c", Body=b"data", ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket="bkt", Key="d", Body=b"data", ChecksumAlgorithm="SHA1")
    assert emu.objects("bkt") == {"c": b"data", "d": b"data"}
    # over https botocore leaves an upload with a Content-MD5 unsigned; the signer accepts
    # UNSIGNED-PAYLOAD as S3 does: here, a hand-made one
    url = emu.s3_url + "/bkt/u"
    h = sign("PUT", url, "s3", b"x", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    status, _, body = send(url, "PUT", b"x", h)
    assert status == 200, body
    # a digest that does not match the body
    h = sign("PUT", url, "s3", b"x", {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA==",
                                      "X-Amz-Content-SHA256": hashlib.sha256(b"x").hexdigest()})
    status, _, body = send(url, "PUT", b"x", h)
    assert status == 400 and b"<Code>BadDigest</Code>" in body
    assert emu.signature_failures == 0


def test_delete_objects_needs_a_content_md5(emu, s3):
    body = (b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>k</Key>'
            b"</Object></Delete>")
    url = emu.s3_url + "/bkt?delete="
    h = sign("POST", url, "s3", body, {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
    status, _, resp = send(url, "POST", body, h)
    assert status == 400 and b"Missing required header for this request: Content-Md5" in resp


def test_signatures_are_checked_with_s3_rules(emu, s3):
    bad = s3_client(emu, secret="wrong")
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket="bkt", Key="a b", Body=b"x")
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # SigV4 without S3's rules encodes the path twice: refused
    url = emu.s3_url + "/bkt/a%20b"
    h = sign("GET", url, "s3", b"", {"X-Amz-Content-SHA256": hashlib.sha256(b"").hexdigest()})
    status, _, resp = send(url, "GET", b"", h)
    assert status == 403 and b"SignatureDoesNotMatch" in resp
    # no x-amz-content-sha256
    url = emu.s3_url + "/bkt/k"
    status, _, resp = send(url, "GET", b"", sign("GET", url, "s3"))
    assert status == 400 and b"x-amz-content-sha256" in resp
    # unsigned
    status, _, resp = send(url, "GET")
    assert status == 403 and b"AccessDenied" in resp
    assert emu.signature_failures == 4
