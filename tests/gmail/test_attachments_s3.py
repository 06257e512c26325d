"""Kept attachments in S3-compatible object storage: django-storages and boto3 against a
local S3 server (moto's, on 127.0.0.1) — kept once, served without Gmail, removed with
their message."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from django.test import Client

from inbox.models import Message
from inbox.services import delete_conversations
from sync.pull import pull_account
from tests.attachment_mail import EXPECTED, assert_downloads_match, export_message
from tests.fakes.gmail_server import FakeGmail
from tests.gmail.conftest import GmailSetup

pytestmark = pytest.mark.django_db

BUCKET = "salesinbox-attachments"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{server._server.server_port}"  # type: ignore[union-attr]
    server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, settings):  # type: ignore[no-untyped-def]
    credentials = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}
    s3 = boto3.resource("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **credentials)
    s3.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": credentials["aws_access_key_id"],
                "secret_key": credentials["aws_secret_access_key"],
                "location": "acme",
                "default_acl": "private",
                "file_overwrite": False,
            },
        },
    }
    yield s3.Bucket(BUCKET)
    s3.Bucket(BUCKET).objects.all().delete()
    s3.Bucket(BUCKET).delete()


def test_attachments_are_kept_in_the_bucket_and_leave_with_their_message(
    gmail: FakeGmail, alice_gmail: GmailSetup, alice, bucket, django_capture_on_commit_callbacks
):
    alice_gmail.mailbox.deliver(export_message(to=alice_gmail.account.address))
    pull_account(alice_gmail.account.pk)
    message = Message.objects.get(account=alice_gmail.account)
    client = Client()
    client.force_login(alice)

    assert_downloads_match(client, message.pk)
    keys = [o.key for o in bucket.objects.all()]
    assert len(keys) == len(EXPECTED) and all(k.startswith("acme/attachments/") for k in keys)
    fetched = gmail.count("messages.attachments.get")
    assert_downloads_match(client, message.pk)
    assert gmail.count("messages.attachments.get") == fetched

    with django_capture_on_commit_callbacks(execute=True):
        delete_conversations(alice, [message.conversation_id])
    assert list(bucket.objects.all()) == []
