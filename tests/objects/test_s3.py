"""The built-in object storage through an unmodified ``boto3`` S3 client (path-style, SigV4)."""

from __future__ import annotations

import hashlib
import io
import uuid

import boto3.s3.transfer
import pytest
import requests
from botocore.exceptions import ClientError

from tests.conftest import s3_client


def code(error: ClientError) -> tuple[int, str]:
    return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]


def test_buckets(s3) -> None:
    name = f"b-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    with pytest.raises(ClientError) as again:
        s3.create_bucket(Bucket=name)
    assert code(again.value) == (409, "BucketAlreadyOwnedByYou")
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as busy:
        s3.delete_bucket(Bucket=name)
    assert code(busy.value) == (409, "BucketNotEmpty")
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as gone:
        s3.list_objects_v2(Bucket=name)
    assert code(gone.value) == (404, "NoSuchBucket")


def test_put_get_range_head_copy_delete(s3, bucket) -> None:
    data = bytes(range(256)) * 100
    put = s3.put_object(Bucket=bucket, Key="dir/a b+c.bin", Body=data, ContentType="application/x-test",
                        Metadata={"owner": "me"})  # fmt: skip
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/a b+c.bin")
    assert got["Body"].read() == data
    assert (got["ContentType"], got["Metadata"], got["ETag"]) == ("application/x-test", {"owner": "me"}, put["ETag"])
    part = s3.get_object(Bucket=bucket, Key="dir/a b+c.bin", Range="bytes=10-19")
    assert part["Body"].read() == data[10:20] and part["ContentRange"] == f"bytes 10-19/{len(data)}"
    assert s3.get_object(Bucket=bucket, Key="dir/a b+c.bin", Range="bytes=-5")["Body"].read() == data[-5:]
    with pytest.raises(ClientError) as bad_range:
        s3.get_object(Bucket=bucket, Key="dir/a b+c.bin", Range=f"bytes={len(data)}-")
    assert code(bad_range.value) == (416, "InvalidRange")
    head = s3.head_object(Bucket=bucket, Key="dir/a b+c.bin")
    assert head["ContentLength"] == len(data) and head["ETag"] == put["ETag"]

    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "dir/a b+c.bin"})
    copied = s3.get_object(Bucket=bucket, Key="copy")
    assert copied["Body"].read() == data and copied["Metadata"] == {"owner": "me"}

    s3.delete_object(Bucket=bucket, Key="copy")
    with pytest.raises(ClientError) as missing:
        s3.get_object(Bucket=bucket, Key="copy")
    assert code(missing.value) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as missing_head:
        s3.head_object(Bucket=bucket, Key="copy")
    assert code(missing_head.value)[0] == 404
    s3.delete_object(Bucket=bucket, Key="copy")  # deleting a missing key is fine (S3)
    deleted = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dir/a b+c.bin"}]})
    assert [d["Key"] for d in deleted["Deleted"]] == ["dir/a b+c.bin"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_list_objects_v2_prefix_delimiter_and_pagination(s3, bucket) -> None:
    keys = [f"logs/2024/{i:03d}.txt" for i in range(25)] + ["logs/readme", "top.txt"] + [f"a/{i}" for i in range(3)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 7}))
    assert len(pages) == 5 and all(p["KeyCount"] <= 7 for p in pages)
    assert [c["Key"] for p in pages for c in p.get("Contents", [])] == sorted(keys)
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [c["Key"] for c in top["Contents"]] == ["top.txt"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "logs/"]
    logs = s3.list_objects_v2(Bucket=bucket, Prefix="logs/", Delimiter="/")
    assert [c["Key"] for c in logs["Contents"]] == ["logs/readme"] and logs["CommonPrefixes"] == [
        {"Prefix": "logs/2024/"}
    ]
    first = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=1)
    assert first["IsTruncated"] and first["CommonPrefixes"] == [{"Prefix": "a/"}]
    second = s3.list_objects_v2(
        Bucket=bucket, Delimiter="/", MaxKeys=1, ContinuationToken=first["NextContinuationToken"]
    )
    assert second["CommonPrefixes"] == [{"Prefix": "logs/"}]
    after = s3.list_objects_v2(Bucket=bucket, Prefix="logs/2024/", StartAfter="logs/2024/020.txt")
    assert [c["Key"] for c in after["Contents"]] == [f"logs/2024/{i:03d}.txt" for i in range(21, 25)]
    v1 = s3.list_objects(Bucket=bucket, Prefix="a/")
    assert [c["Key"] for c in v1["Contents"]] == ["a/0", "a/1", "a/2"]


def test_multipart_upload_complete_abort_and_transfer(s3, bucket) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", ContentType="text/plain")["UploadId"]
    parts_data = [b"a" * (5 * 1024 * 1024), b"b" * (5 * 1024 * 1024), b"tail"]
    parts = []
    for number, chunk in enumerate(parts_data, 1):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=number, Body=chunk)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in listed] == [1, 2, 3] and listed[2]["Size"] == 4
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    expected = hashlib.md5(b"".join(hashlib.md5(c).digest() for c in parts_data)).hexdigest() + "-3"
    assert done["ETag"] == f'"{expected}"'
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == b"".join(parts_data) and got["ContentType"] == "text/plain"

    aborted = s3.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="gone", UploadId=aborted, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=aborted)
    with pytest.raises(ClientError) as no_upload:
        s3.complete_multipart_upload(Bucket=bucket, Key="gone", UploadId=aborted,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": "x"}]})  # fmt: skip
    assert code(no_upload.value) == (404, "NoSuchUpload")

    big = bytes(range(256)) * (48 * 1024)  # 12 MB: boto3's managed transfer goes multipart, ranged download
    config = boto3.s3.transfer.TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    s3.upload_fileobj(io.BytesIO(big), bucket, "big", Config=config)
    out = io.BytesIO()
    s3.download_fileobj(bucket, "big", out, Config=config)
    assert out.getvalue() == big


def test_signatures_are_checked_and_presigned_urls_work(s3_server, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s3cr3t")
    wrong = s3_client(s3_server, secret="not-the-secret")
    with pytest.raises(ClientError) as denied:
        wrong.get_object(Bucket=bucket, Key="secret")
    assert code(denied.value) == (403, "SignatureDoesNotMatch")
    endpoint = s3.meta.endpoint_url
    anonymous = requests.get(f"{endpoint}/{bucket}/secret")
    assert anonymous.status_code == 403 and b"<Code>AccessDenied</Code>" in anonymous.content
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "secret"}, ExpiresIn=60)
    assert requests.get(url).content == b"s3cr3t"
    v4 = s3_client(s3_server, signature_version="s3v4")
    url4 = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "secret"}, ExpiresIn=60)
    assert requests.get(url4).content == b"s3cr3t"
    assert requests.get(url4.replace("secret?", "other?")).status_code == 403
