"""The `blob_store` fixture: every implementation of `BlobStore`, each test run once per backend.

S3 is moto running as a real HTTP server on a free loopback port, one per session, with a fresh
bucket per test; the boto3 client gets fake credentials directly, so nothing reads ``~/.aws``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from moto.server import ThreadedMotoServer

from mnwd.blobs import BlobStore, LocalBlobStore, S3BlobStore

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def make_s3_client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        # moto's server can answer 500 to concurrent PUTs of one key (a race in its in-memory model,
        # not in S3); retries absorb it.
        config=botocore.config.Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 10}),
    )


@pytest.fixture(scope="session")
def s3_client(moto_endpoint: str) -> Iterator[Any]:
    """One client for the session: boto3 clients are thread-safe, and building one takes a while."""
    client = make_s3_client(moto_endpoint)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def s3_bucket(s3_client: Any) -> Iterator[str]:
    name = f"blobs-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        # moto keeps objects in this process's memory: free them.
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", []):
                s3_client.delete_object(Bucket=name, Key=item["Key"])
        s3_client.delete_bucket(Bucket=name)


@pytest.fixture(params=["local", "s3"])
async def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    store: LocalBlobStore | S3BlobStore
    if request.param == "local":
        store = LocalBlobStore(tmp_path / "blobs")
    else:
        client = request.getfixturevalue("s3_client")
        bucket = request.getfixturevalue("s3_bucket")
        store = S3BlobStore(bucket, prefix="b/", client=client, staging_dir=tmp_path / "staging")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def staging_dir(blob_store: BlobStore) -> Path:
    """Where a backend keeps a put in flight: empty again after every put, however it ended."""
    assert isinstance(blob_store, LocalBlobStore | S3BlobStore)
    return blob_store.staging_dir
