"""Gmail and Microsoft Graph answering 429 (with Retry-After) or 500 to 30% of all calls:
every archive, unarchive and trash still gets done, and no message is asked about again
before the Retry-After it was given has passed (checked from the servers' own logs).

Pushes run in this process as soon as a change is due (the long `make chaos` run pushes
them with Celery workers); the backoff is shortened to seconds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from sync.providers.outlook import auth as graph_auth
from tests.chaos.flaky import FaultPlan, FlakyGmail, FlakyMicrosoft
from tests.chaos.providers import FaultReport, fault_run, gmail_boxes, outlook_boxes
from tests.chaos.scenario import company_and_actor
from tests.fakes.tls import LocalCA

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def reports(chaos_db: None, local_ca: LocalCA) -> Iterator[dict[str, FaultReport]]:
    ca = local_ca
    gmail = FlakyGmail(FaultPlan(rate=0.3, retry_after=2, seed=4)).start()
    ms = FlakyMicrosoft(ca, FaultPlan(rate=0.3, retry_after=2, seed=5)).start()
    graph_auth._HTTP_CACHE.clear()
    try:
        with override_settings(
            GMAIL_API_ENDPOINT=gmail.api_endpoint,
            GOOGLE_TOKEN_URI=gmail.token_uri,
            GOOGLE_CLIENT_ID=FlakyGmail.client_id,
            GOOGLE_CLIENT_SECRET=FlakyGmail.client_secret,
            MS_CLIENT_ID=ms.client_id,
            MS_CLIENT_SECRET=ms.client_secret,
            MS_AUTHORITY=ms.authority,
            GRAPH_API_ENDPOINT=ms.graph_endpoint,
            MS_CA_BUNDLE=str(ca.ca_file),
            OUTBOX_BACKOFF_BASE_SECONDS=1,
            OUTBOX_BACKOFF_MAX_SECONDS=4,
            # At a steady 30% fault rate some changes need more than the default 8 attempts
            # (an Outlook change makes 4 calls per attempt): how many is reported.
            OUTBOX_MAX_ATTEMPTS=40,
        ):
            company, actor = company_and_actor()
            yield fault_run(
                {
                    "gmail": (
                        gmail_boxes(gmail, company=company, actor=actor, accounts=2, messages=10),
                        gmail.log,
                    ),
                    "outlook": (
                        outlook_boxes(ms, company=company, actor=actor, accounts=2, messages=10),
                        ms.log,
                    ),
                },
                changes=16,
                drain=None,
                timeout=240,  # ~60 s here; slower machines get room under pytest's 300 s
            )
    finally:
        gmail.stop()
        ms.stop()
        graph_auth._HTTP_CACHE.clear()


@pytest.mark.parametrize("provider", ["gmail", "outlook"])
def test_every_change_is_done_although_30_percent_of_calls_fail(reports, provider):
    report = reports[provider]
    print(provider, report.as_dict())
    assert report.throttled > 0 and report.server_errors > 0
    assert 0.15 <= report.fault_share <= 0.45  # the faults really were there (30% drawn)
    assert report.figures.lost == 0, report.figures.failures
    assert report.changes == report.figures.done == 16
    assert report.disagreements == [] and report.wrong_message_actions == 0


@pytest.mark.parametrize("provider", ["gmail", "outlook"])
def test_no_message_is_asked_about_before_its_retry_after(reports, provider):
    report = reports[provider]
    assert report.throttled > 0
    assert report.early_retries == [], "\n".join(report.early_retries)
