#!/usr/bin/env python3
"""What an S3 server does with the requests keepsake depends on: conditional
writes (If-None-Match: * on PutObject and CompleteMultipartUpload), multipart
listing and abort, batch delete, and the status and error code of failures.
Prints one line per check: the HTTP status, the error code, and a verdict.

    tests/rgw/s3_probe.py URL ACCESS_KEY SECRET_KEY [OTHER_ACCESS_KEY OTHER_SECRET_KEY]

The optional second user (one that does not own the probe's buckets) checks a
real permission failure. Needs boto3. Run it against moto and radosgw alike
(scripts/services.sh starts both); it leaves its buckets behind.
"""
import http.client
import os
import sys
import time
from urllib.parse import urlsplit

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config
from botocore.exceptions import ClientError

URL, AK, SK = sys.argv[1:4]
OTHER = sys.argv[4:6] if len(sys.argv) >= 6 else None
PART = 5 * 1024 * 1024
RESULTS = []


def client(ak=AK, sk=SK):
    c = boto3.client(
        "s3", endpoint_url=URL, aws_access_key_id=ak, aws_secret_access_key=sk,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                      request_checksum_calculation="when_required",
                      response_checksum_validation="when_required"))
    # Keep the raw body of every response, to show the error format.
    c.meta.events.register("before-parse.s3.*", _keep_raw)
    return c


LAST_RAW = {}


def _keep_raw(response_dict, **_):
    LAST_RAW["status"] = response_dict.get("status_code")
    LAST_RAW["body"] = response_dict.get("body") or b""


def call(fn, **kw):
    """(status, error code or '-', response or None)"""
    try:
        r = fn(**kw)
        return r["ResponseMetadata"]["HTTPStatusCode"], "-", r
    except ClientError as e:
        LAST_RAW["error_body"] = LAST_RAW.get("body", b"")
        return e.response["ResponseMetadata"].get("HTTPStatusCode"), e.response["Error"].get("Code") or "(none)", None


def raw(method, path, headers=None, body=b"", ak=AK, sk=SK, query=""):
    """A SigV4-signed request outside boto3 (no header of its own added)."""
    u = urlsplit(URL)
    url = f"{URL}{path}" + (f"?{query}" if query else "")
    req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    botocore.auth.S3SigV4Auth(botocore.credentials.Credentials(ak, sk), "s3", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    conn.request(method, req.url[len(f"{u.scheme}://{u.netloc}"):], body=body, headers=dict(req.headers.items()))
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, dict(resp.getheaders()), data


def record(check, status, code, verdict, detail=""):
    RESULTS.append((check, str(status), code, verdict, detail))
    print(f"{check:<62} {status!s:>4}  {code:<28} {verdict}  {detail}", flush=True)


def body_of(s3, b, k):
    return s3.get_object(Bucket=b, Key=k)["Body"].read()


def mpu_parts(s3, b, k, data):
    up = s3.create_multipart_upload(Bucket=b, Key=k)["UploadId"]
    e1 = s3.upload_part(Bucket=b, Key=k, UploadId=up, PartNumber=1, Body=data[:PART])["ETag"]
    e2 = s3.upload_part(Bucket=b, Key=k, UploadId=up, PartNumber=2, Body=data[PART:])["ETag"]
    return up, {"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}


def open_upload_ids(s3, b, prefix=""):
    return [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=b, Prefix=prefix).get("Uploads", [])]


def main():
    s3 = client()
    b = f"probe-{os.getpid()}-{int(time.time())}"
    s3.create_bucket(Bucket=b)

    # (a) PutObject If-None-Match: *
    st, code, _ = call(s3.put_object, Bucket=b, Key="a/new", Body=b"first", IfNoneMatch="*")
    record("a. PutObject If-None-Match:* on a missing key", st, code,
           "created" if st == 200 and body_of(s3, b, "a/new") == b"first" else "NOT CREATED")
    st, code, _ = call(s3.put_object, Bucket=b, Key="a/new", Body=b"second", IfNoneMatch="*")
    kept = body_of(s3, b, "a/new") == b"first"
    record("a. PutObject If-None-Match:* on an existing key", st, code,
           "refused, object kept" if st == 412 and kept else
           ("IGNORED: overwritten" if not kept else "refused differently, object kept"),
           _short(LAST_RAW.get("error_body", b"")) if st != 200 else "")
    st, code, _ = call(s3.put_object, Bucket=b, Key="a/new", Body=b"third", IfMatch='"0123456789abcdef0123456789abcdef"')
    kept = body_of(s3, b, "a/new") == b"first"
    record("a+. PutObject If-Match:<wrong etag> on an existing key", st, code,
           "refused, object kept" if st == 412 and kept else ("IGNORED: overwritten" if not kept else "refused differently"))

    # (b) CompleteMultipartUpload If-None-Match: *
    data = os.urandom(PART) + b"tail"
    up, parts = mpu_parts(s3, b, "b/none", data)
    st, code, _ = call(s3.complete_multipart_upload, Bucket=b, Key="b/none", UploadId=up,
                       MultipartUpload=parts, IfNoneMatch="*")
    record("b. Complete If-None-Match:* , key missing", st, code,
           "completed" if st == 200 and body_of(s3, b, "b/none") == data else "NOT COMPLETED")

    for when in ("between Create and Complete", "before Create"):
        key = "b/between" if when.startswith("between") else "b/before"
        if when == "before Create":
            s3.put_object(Bucket=b, Key=key, Body=b"existing")
            up, parts = mpu_parts(s3, b, key, data)
        else:
            up, parts = mpu_parts(s3, b, key, data)
            s3.put_object(Bucket=b, Key=key, Body=b"existing")
        st, code, _ = call(s3.complete_multipart_upload, Bucket=b, Key=key, UploadId=up,
                           MultipartUpload=parts, IfNoneMatch="*")
        kept = body_of(s3, b, key) == b"existing"
        still_open = up in open_upload_ids(s3, b, key)
        verdict = ("refused, object kept" if st == 412 and kept else
                   "IGNORED: overwritten" if not kept else "refused differently, object kept")
        record(f"b. Complete If-None-Match:* , key created {when}", st, code, verdict,
               "upload still open after" if still_open else "upload gone after")
        if still_open:
            s3.abort_multipart_upload(Bucket=b, Key=key, UploadId=up)

    # (d) ListMultipartUploads with a prefix, AbortMultipartUpload
    u1 = s3.create_multipart_upload(Bucket=b, Key="d/x/one")["UploadId"]
    u2 = s3.create_multipart_upload(Bucket=b, Key="d/y/two")["UploadId"]
    st, code, r = call(s3.list_multipart_uploads, Bucket=b, Prefix="d/x/")
    keys = [u["Key"] for u in (r or {}).get("Uploads", [])]
    record("d. ListMultipartUploads Prefix=d/x/", st, code,
           "filtered" if keys == ["d/x/one"] else f"got {keys}")
    st, code, _ = call(s3.abort_multipart_upload, Bucket=b, Key="d/x/one", UploadId=u1)
    left = open_upload_ids(s3, b, "d/")
    record("d. AbortMultipartUpload", st, code, "gone from the list" if left == [u2] else f"list now {left}")
    st, code, _ = call(s3.abort_multipart_upload, Bucket=b, Key="d/x/one", UploadId=u1)
    record("d. AbortMultipartUpload again (already aborted)", st, code, "")
    st, code, _ = call(s3.upload_part, Bucket=b, Key="d/x/one", UploadId=u1, PartNumber=1, Body=b"x")
    record("d. UploadPart to an aborted upload", st, code, "")
    st, code, _ = call(s3.abort_multipart_upload, Bucket=b, Key="d/y/two", UploadId="no-such-upload-id")
    record("d. AbortMultipartUpload unknown UploadId", st, code, "")
    s3.abort_multipart_upload(Bucket=b, Key="d/y/two", UploadId=u2)

    # (e) DeleteObjects
    for k in ("e/1", "e/2", "e/3"):
        s3.put_object(Bucket=b, Key=k, Body=b"x")
    st, code, r = call(s3.delete_objects, Bucket=b, Delete={"Quiet": True, "Objects": [
        {"Key": "e/1"}, {"Key": "e/2"}, {"Key": "e/missing"}]})
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=b, Prefix="e/").get("Contents", [])]
    record("e. DeleteObjects Quiet (2 present + 1 missing key)", st, code,
           f"Deleted={len((r or {}).get('Deleted', []))} Errors={len((r or {}).get('Errors', []))} left={left}")
    st, code, r = call(s3.delete_objects, Bucket=b, Delete={"Quiet": False, "Objects": [
        {"Key": "e/3"}, {"Key": "e/missing"}]})
    record("e. DeleteObjects verbose (1 present + 1 missing key)", st, code,
           f"Deleted={[d['Key'] for d in (r or {}).get('Deleted', [])]} Errors={(r or {}).get('Errors', [])}")
    # A request with no checksum at all (older SDKs sent Content-MD5; AWS requires one).
    xml = b'<Delete><Quiet>true</Quiet><Object><Key>e/none</Key></Object></Delete>'
    st, _, data_ = raw("POST", f"/{b}", {"Content-Type": "application/xml"}, xml, query="delete=")
    record("e. DeleteObjects with neither Content-MD5 nor x-amz-checksum", st,
           _code(data_), "accepted" if st == 200 else "refused", _short(data_))
    # Per-key errors: a version under legal hold (Object Lock) cannot be deleted.
    lb = b + "-lock"
    st, code, _ = call(s3.create_bucket, Bucket=lb, ObjectLockEnabledForBucket=True)
    if st == 200:
        v_held = s3.put_object(Bucket=lb, Key="held", Body=b"x", ObjectLockLegalHoldStatus="ON",
                               ChecksumAlgorithm="CRC32").get("VersionId")
        v_free = s3.put_object(Bucket=lb, Key="free", Body=b"x").get("VersionId")
        for quiet in (True, False):
            st, code, r = call(s3.delete_objects, Bucket=lb, Delete={"Quiet": quiet, "Objects": [
                {"Key": "held", "VersionId": v_held}, {"Key": "free", "VersionId": v_free}]})
            errs = [(e.get("Key"), e.get("Code")) for e in (r or {}).get("Errors", [])]
            record(f"e. DeleteObjects Quiet={quiet}: legal-hold version + free version", st, code,
                   f"Deleted={[d['Key'] for d in (r or {}).get('Deleted', [])]} Errors={errs}")
            v_free = s3.put_object(Bucket=lb, Key="free", Body=b"x").get("VersionId")
        s3.put_object_legal_hold(Bucket=lb, Key="held", VersionId=v_held, LegalHold={"Status": "OFF"})
    else:
        record("e. create bucket with Object Lock", st, code, "per-key errors not checked")

    # (f) errors: HEAD/GET a missing key, wrong secret, wrong access key, other user
    st, hdrs, data_ = raw("HEAD", f"/{b}/f/missing")
    record("f. HEAD missing key", st, "(no body)" if not data_ else _code(data_), _short(data_))
    st, hdrs, data_ = raw("GET", f"/{b}/f/missing")
    record("f. GET missing key", st, _code(data_), "", _short(data_))
    st, hdrs, data_ = raw("HEAD", f"/{b}-nosuchbucket/x")
    record("f. HEAD key in a missing bucket", st, "(no body)" if not data_ else _code(data_), "")
    st, hdrs, data_ = raw("HEAD", f"/{b}/a/new", sk="wrong-secret")
    record("f. HEAD existing key, wrong secret key", st, "(no body)" if not data_ else _code(data_), "")
    st, hdrs, data_ = raw("HEAD", f"/{b}", sk="wrong-secret")
    record("f. HEAD bucket, wrong secret key", st, "(no body)" if not data_ else _code(data_), "")
    st, hdrs, data_ = raw("GET", f"/{b}/a/new", sk="wrong-secret")
    record("f. GET existing key, wrong secret key", st, _code(data_), "", _short(data_))
    st, hdrs, data_ = raw("GET", f"/{b}/a/new", ak="NO-SUCH-ACCESS-KEY")
    record("f. GET existing key, unknown access key", st, _code(data_), "", _short(data_))
    st, hdrs, data_ = raw("PUT", f"/{b}/f/wrong", body=b"x", sk="wrong-secret")
    record("f. PUT with wrong secret key", st, _code(data_), "")
    if OTHER:
        st, hdrs, data_ = raw("HEAD", f"/{b}/a/new", ak=OTHER[0], sk=OTHER[1])
        record("f. HEAD existing key as another user (no permission)", st,
               "(no body)" if not data_ else _code(data_), "")
        st, hdrs, data_ = raw("GET", f"/{b}/a/new", ak=OTHER[0], sk=OTHER[1])
        record("f. GET existing key as another user (no permission)", st, _code(data_), "", _short(data_))
    # What boto3 (like the Rust SDK) makes of a HEAD error without a body.
    st, code, _ = call(s3.head_object, Bucket=b, Key="f/missing")
    record("f. boto3 head_object missing key -> error code", st, code, "")
    st, code, _ = call(client(sk="wrong-secret").head_object, Bucket=b, Key="a/new")
    record("f. boto3 head_object wrong secret -> error code", st, code, "")


def _code(data):
    s = data.decode(errors="replace")
    if "<Code>" in s:
        return s.split("<Code>", 1)[1].split("</Code>", 1)[0]
    return "(no body)" if not data else "(no <Code>)"


def _short(data):
    if not isinstance(data, (bytes, bytearray)):
        return ""
    return data.decode(errors="replace").replace("\n", " ")[:300]


if __name__ == "__main__":
    main()
