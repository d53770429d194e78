"""The whole glue scenario from the FC docs, end to end on one node, with no user code in between:

upload to bucket ``in`` → function A (OSS trigger) transforms it into bucket ``out`` → function B (OSS
trigger on ``out``) appends a record (one row object per file in bucket ``db``, under ``records/``) →
function C (OSS trigger on ``db`` ``records/``; its code deployed from the object storage with
codeOSSBucket/codeOSSObject) updates ``index.json``. The final state is asserted through boto3.
"""

from __future__ import annotations

import io
import json
import zipfile

from tests.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, free_port, s3_client, s3_port_of, wait_until

#: A tiny SigV4 S3 client for functions (instances run a bare interpreter: no boto3 there).
S3MINI = """
import datetime, hashlib, hmac, os, urllib.error, urllib.parse, urllib.request

EP, KEY, SECRET = os.environ["S3_ENDPOINT"], os.environ["S3_KEY"], os.environ["S3_SECRET"]


def _mac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def call(method, bucket, key, body=b""):
    amz = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = "/" + bucket + "/" + urllib.parse.quote(key, safe="/~")
    headers = {"host": urllib.parse.urlsplit(EP).netloc, "x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
               "x-amz-date": amz}
    signed = ";".join(sorted(headers))
    canonical = "\\n".join([method, path, "", "".join(k + ":" + headers[k] + "\\n" for k in sorted(headers)), signed,
                           headers["x-amz-content-sha256"]])
    scope = amz[:8] + "/us-east-1/s3/aws4_request"
    text = "\\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = _mac(("AWS4" + SECRET).encode(), amz[:8])
    for part in ("us-east-1", "s3", "aws4_request"):
        k = _mac(k, part)
    headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=" + KEY + "/" + scope + ", SignedHeaders=" + signed
                                + ", Signature=" + hmac.new(k, text.encode(), hashlib.sha256).hexdigest())
    request = urllib.request.Request(EP + path, data=body if method == "PUT" else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
"""

TRANSFORM = """
import json, s3mini

def handler(event, context):
    for e in json.loads(event)["events"]:
        key = e["oss"]["object"]["key"]
        data = s3mini.call("GET", e["oss"]["bucket"]["name"], key)
        s3mini.call("PUT", "out", key, data.upper())
    return "ok"
"""

RECORD = """
import json, s3mini

def handler(event, context):
    for e in json.loads(event)["events"]:
        o = e["oss"]["object"]
        row = {"key": o["key"], "size": o["size"], "etag": o["eTag"], "at": e["eventTime"]}
        s3mini.call("PUT", "db", "records/" + o["key"] + ".json", json.dumps(row).encode())
    return "ok"
"""

INDEX = """
import json, s3mini

def handler(event, context):
    current = s3mini.call("GET", "db", "index.json")
    index = json.loads(current) if current else {"files": {}}
    for e in json.loads(event)["events"]:
        row = json.loads(s3mini.call("GET", "db", e["oss"]["object"]["key"]))
        index["files"][row["key"]] = row["size"]
    index["total"] = sum(index["files"].values())
    s3mini.call("PUT", "db", "index.json", json.dumps(index, sort_keys=True).encode())
    return "ok"
"""


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in files.items():
            archive.writestr(name, source)
    return buffer.getvalue()


def test_upload_transform_record_index(make_server, code_dir) -> None:
    node = make_server(None, "--s3-port", str(free_port()), OPENFC_ASYNC_RETRY_BASE="0.05")
    client, s3 = node.client(), s3_client(node)
    for bucket in ("in", "out", "db", "code"):
        s3.create_bucket(Bucket=bucket)
    env = {
        "S3_ENDPOINT": f"http://127.0.0.1:{s3_port_of(node)}",
        "S3_KEY": ACCESS_KEY_ID,
        "S3_SECRET": ACCESS_KEY_SECRET,
    }
    client.create_service("glue")
    for name, source in (("a", TRANSFORM), ("b", RECORD)):
        client.create_function("glue", name, "python3", "index.handler", environmentVariables=env, timeout=30,
                               codeDir=code_dir({"index.py": source, "s3mini.py": S3MINI}))  # fmt: skip
    s3.put_object(Bucket="code", Key="c.zip", Body=zipped({"index.py": INDEX, "s3mini.py": S3MINI}))
    created = client.create_function("glue", "c", "python3", "index.handler", environmentVariables=env, timeout=30,
                                     codeOSSBucket="code", codeOSSObject="c.zip").data  # fmt: skip
    assert created["codeSize"] > 0
    client.put_on_demand_config("glue", "LATEST", "c", 1)  # the index is read-modify-write: one at a time
    created_any = {"events": ["oss:ObjectCreated:*"]}
    client.create_trigger("glue", "a", "on-in", "oss", created_any, "acs:oss:local:0:in", None)
    client.create_trigger("glue", "b", "on-out", "oss", created_any, "acs:oss:local:0:out", None)
    client.create_trigger("glue", "c", "on-db", "oss", {**created_any, "filter": {"key": {"prefix": "records/"}}},
                          "acs:oss:local:0:db", None)  # fmt: skip

    files = {f"docs/{i}.txt": f"hello number {i}".encode() for i in range(5)}
    for key, data in files.items():
        s3.put_object(Bucket="in", Key=key, Body=data)

    def index() -> dict | None:
        try:
            value = json.loads(s3.get_object(Bucket="db", Key="index.json")["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None
        return value if len(value["files"]) == len(files) else None

    final = wait_until(index, timeout=60, interval=0.2)
    assert final == {"files": {k: len(v) for k, v in files.items()}, "total": sum(len(v) for v in files.values())}
    for key, data in files.items():
        assert s3.get_object(Bucket="out", Key=key)["Body"].read() == data.upper()
        row = json.loads(s3.get_object(Bucket="db", Key=f"records/{key}.json")["Body"].read())
        assert (row["key"], row["size"]) == (key, len(data))
        assert row["etag"] == s3.head_object(Bucket="out", Key=key)["ETag"].strip('"')
