"""The CloudFront emulator, driven by botocore (and raw signed requests for malformed input)."""

import threading
import time
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from emulators.clients import client, send, sign
from emulators.cloudfront import NS

DIST = "E2EXAMPLE123"


def batch(ref, *paths, quantity=None):
    return {"CallerReference": ref,
            "Paths": {"Quantity": len(paths) if quantity is None else quantity, "Items": list(paths)}}


def code_of(excinfo):
    err = excinfo.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


def test_create_get_list_and_completion(emu, cf):
    r = cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("ref-1", "/*"))
    inv = r["Invalidation"]
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert r["Location"] == f"{emu.cloudfront_url}/2020-05-31/distribution/{DIST}/invalidation/{inv['Id']}"
    assert inv["Status"] == "InProgress" and inv["InvalidationBatch"] == batch("ref-1", "/*")
    assert cf.get_invalidation(DistributionId=DIST, Id=inv["Id"])["Invalidation"]["Status"] == "InProgress"
    time.sleep(0.35)
    assert cf.get_invalidation(DistributionId=DIST, Id=inv["Id"])["Invalidation"]["Status"] == "Completed"
    second = cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("ref-2", "/a", "/b"))
    listed = cf.list_invalidations(DistributionId=DIST)["InvalidationList"]
    assert [i["Id"] for i in listed["Items"]] == [second["Invalidation"]["Id"], inv["Id"]]
    assert (listed["Quantity"], listed["IsTruncated"]) == (2, False)
    page = cf.list_invalidations(DistributionId=DIST, MaxItems="1")["InvalidationList"]
    assert page["IsTruncated"] and page["NextMarker"] == second["Invalidation"]["Id"]
    rest = cf.list_invalidations(DistributionId=DIST, Marker=page["NextMarker"])["InvalidationList"]
    assert [i["Id"] for i in rest["Items"]] == [inv["Id"]]
    assert [(i["Id"], i["Paths"]) for i in emu.invalidations(DIST)] == \
        [(inv["Id"], ["/*"]), (second["Invalidation"]["Id"], ["/a", "/b"])]


def test_same_caller_reference_same_paths_returns_the_existing_invalidation(emu, cf):
    first = cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("deploy-1", "/a", "/b"))
    again = cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("deploy-1", "/b", "/a"))
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert again["Invalidation"]["Id"] == first["Invalidation"]["Id"]
    assert len(emu.invalidations()) == 1


def test_same_caller_reference_other_paths_is_batch_already_exists(emu, cf):
    cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("deploy-1", "/*"))
    with pytest.raises(ClientError) as e:
        cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("deploy-1", "/other"))
    assert code_of(e) == (409, "InvalidationBatchAlreadyExists")
    assert len(emu.invalidations()) == 1


def test_unknown_distribution_and_invalidation(emu, cf):
    with pytest.raises(ClientError) as e:
        cf.create_invalidation(DistributionId="ENOSUCH", InvalidationBatch=batch("r", "/*"))
    assert code_of(e) == (404, "NoSuchDistribution")
    with pytest.raises(ClientError) as e:
        cf.get_invalidation(DistributionId=DIST, Id="INOSUCH")
    assert code_of(e) == (404, "NoSuchInvalidation")
    emu.seed_distribution("ESEEDED")
    assert cf.list_invalidations(DistributionId="ESEEDED")["InvalidationList"]["Quantity"] == 0


def test_inconsistent_quantities_and_invalid_paths(emu, cf):
    with pytest.raises(ClientError) as e:
        cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("r", "/a", quantity=2))
    assert code_of(e) == (400, "InconsistentQuantities")
    with pytest.raises(ClientError) as e:
        cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("r", "no-slash"))
    assert code_of(e) == (400, "InvalidArgument")
    assert emu.invalidations() == []


@pytest.mark.parametrize("body, code", [
    (b"<InvalidationBatch><Paths>", "MalformedXML"),
    (b'<Other xmlns="%s"/>' % NS.encode(), "MalformedXML"),
    (b'<InvalidationBatch xmlns="%s"><Paths><Quantity>1</Quantity></Paths></InvalidationBatch>'
     % NS.encode(), "MalformedXML"),
    (b"", "MissingBody"),
])
def test_malformed_bodies_get_cloudfront_xml_errors(emu, body, code):
    url = f"{emu.cloudfront_url}/2020-05-31/distribution/{DIST}/invalidation"
    status, headers, raw = send(url, "POST", body, sign("POST", url, "cloudfront", body))
    assert status == 400
    root = ET.fromstring(raw)
    assert root.tag == f"{{{NS}}}ErrorResponse"
    assert root.findtext(f"{{{NS}}}Error/{{{NS}}}Type") == "Sender"
    assert root.findtext(f"{{{NS}}}Error/{{{NS}}}Code") == code
    assert root.findtext(f"{{{NS}}}Error/{{{NS}}}Message")
    assert root.findtext(f"{{{NS}}}RequestId") == headers["x-amzn-RequestId"]
    assert emu.signature_failures == 0


def test_fifteen_wildcard_paths_in_progress_then_too_many(emu, cf):
    cf.create_invalidation(DistributionId=DIST,
                           InvalidationBatch=batch("w1", *[f"/p{n}/*" for n in range(15)]))
    with pytest.raises(ClientError) as e:
        cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("w2", "/*"))
    assert code_of(e) == (400, "TooManyInvalidationsInProgress")
    cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("plain", "/index.html"))
    time.sleep(0.35)  # the first batch completes
    cf.create_invalidation(DistributionId=DIST, InvalidationBatch=batch("w2", "/*"))
    assert len(emu.invalidations()) == 3


def test_region_other_than_us_east_1_is_refused(emu):
    with pytest.raises(ClientError) as e:
        client(emu, "cloudfront", region="eu-west-1").list_invalidations(DistributionId=DIST)
    assert code_of(e) == (403, "SignatureDoesNotMatch")
    assert emu.signature_failures == 1


def test_bad_max_items_chunked_and_oversized_bodies(emu):
    url = f"{emu.cloudfront_url}/2020-05-31/distribution/{DIST}/invalidation?MaxItems=many"
    status, _, raw = send(url, "GET", b"", sign("GET", url, "cloudfront"))
    assert status == 400 and b"<Code>InvalidArgument</Code>" in raw
    url = f"{emu.cloudfront_url}/2020-05-31/distribution/{DIST}/invalidation"
    status, headers, _ = send(url, "POST", b"", {"Transfer-Encoding": "chunked"})
    assert status == 411 and headers["Connection"] == "close"
    status, _, raw = send(url, "POST", b"", {"Content-Length": str(64 * 1024 * 1024)})
    assert status == 413 and b"RequestEntityTooLarge" in raw
    assert emu.invalidations() == []
    assert [(e["operation"], e["status"]) for e in emu.requests()] == \
        [("ListInvalidations", 400), (None, 411), (None, 413)]


def test_concurrent_clients_with_one_caller_reference_create_one_invalidation(emu):
    """Threads racing with the same CallerReference: one invalidation, every caller gets it."""
    ids, errors = [], []

    def create():
        try:
            r = client(emu, "cloudfront").create_invalidation(
                DistributionId=DIST, InvalidationBatch=batch("race", "/*"))
            ids.append(r["Invalidation"]["Id"])
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == [] and len(ids) == 8 and len(set(ids)) == 1
    assert len(emu.invalidations()) == 1 and emu.signature_failures == 0
