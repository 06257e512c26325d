"""Found by the provider-fault chaos run: an Outlook push locates messages in one $batch
and moves them in a second. When a part of the first was answered 429 + Retry-After and
the whole second batch then failed (500), the change came back after the plain backoff —
the Retry-After Graph had already given was forgotten."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from inbox import services
from inbox.models import ChangeStatus, ProviderChange
from sync.providers.outlook import auth as graph_auth
from sync.push import push_account
from tests.chaos.flaky import FaultPlan, FlakyMicrosoft
from tests.chaos.providers import outlook_boxes
from tests.chaos.scenario import company_and_actor
from tests.fakes import graph_server
from tests.fakes.tls import LocalCA

pytestmark = pytest.mark.django_db


class SecondBatchFails(FlakyMicrosoft):
    """The $batch right after the one in which a part was throttled fails as a whole."""

    throttled = False
    failed_batches = 0

    def _take_fault(self, op: str) -> graph_server.Fault | None:
        if op == "batch" and self.throttled and not self.failed_batches:
            self.failed_batches += 1
            return graph_server.Fault("batch", 1, 500, None, "InternalServerError")
        fault = super()._take_fault(op)
        if fault is not None and fault.status == 429:
            self.throttled = True
        return fault


@pytest.fixture
def ms(local_ca: LocalCA, settings) -> Iterator[SecondBatchFails]:  # type: ignore[no-untyped-def]
    ca = local_ca
    server = SecondBatchFails(ca, FaultPlan(rate=0.0)).start()
    graph_auth._HTTP_CACHE.clear()
    settings.MS_CLIENT_ID = server.client_id
    settings.MS_CLIENT_SECRET = server.client_secret
    settings.MS_AUTHORITY = server.authority
    settings.GRAPH_API_ENDPOINT = server.graph_endpoint
    settings.MS_CA_BUNDLE = str(ca.ca_file)
    settings.OUTBOX_BACKOFF_BASE_SECONDS = 30
    yield server
    server.stop()
    graph_auth._HTTP_CACHE.clear()


def test_retry_after_of_a_part_is_kept_when_the_next_batch_fails_as_a_whole(ms: SecondBatchFails):
    company, actor = company_and_actor()
    (box,) = outlook_boxes(ms, company=company, actor=actor, accounts=1, messages=2)
    ms.fail("get", times=1, status=429, retry_after="120")  # one of the two locates
    result = services.archive_conversations(actor, list(box.state))
    before = timezone.now()

    summary = push_account(box.account.pk)

    change = ProviderChange.objects.get(pk=result.changes[0].pk)
    assert summary.retrying == 1 and ms.throttled and ms.failed_batches == 1
    assert change.status == ChangeStatus.PENDING
    assert change.next_attempt_at >= before + timedelta(seconds=120)  # not the 15-30 s backoff
