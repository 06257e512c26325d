"""The fake Gmail and Microsoft the Gmail and Outlook benchmarks pull from (tests/fakes/), and a
rep of a Premium company connected to each: what bench/gmail_memory.py, bench/outlook_memory.py
and bench/gmail_outlook_initial_sync.py set up alike. Call after django.setup()
(``use_fake_gmail`` before it: the app reads those settings from the environment).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inbox.models import MailAccount
    from tests.fakes.graph_server import FakeMailbox, FakeMicrosoft

OUTLOOK_REDIRECT_URI = "https://inbox.example.test/email-sync/microsoft/callback"


def use_fake_gmail(info: dict[str, Any]) -> None:
    """Point the app at a fake Gmail served by another process (its endpoint, token URI and
    client, as that process reported them)."""
    os.environ.update(
        GMAIL_API_ENDPOINT=info["endpoint"],
        GOOGLE_TOKEN_URI=info["token_uri"],
        GOOGLE_CLIENT_ID=info["client"][0],
        GOOGLE_CLIENT_SECRET=info["client"][1],
    )


def gmail_account(company: str, address: str, refresh_token: str, **fields: Any) -> MailAccount:
    """A new rep's Gmail mailbox, connected with ``refresh_token``."""
    from inbox.models import Provider

    return _personal_account(
        company,
        f"rep-{time.time_ns()}@bench.test",
        Provider.GMAIL,
        address,
        {"refresh_token": refresh_token},
        fields,
    )


@contextmanager
def fake_microsoft() -> Iterator[FakeMicrosoft]:
    """The fake Microsoft (sign-in and Graph, over TLS with a CA of its own) in this process,
    with the app's settings pointed at it; stopped at the end."""
    from django.conf import settings

    from sync.providers.outlook import auth
    from tests.fakes.graph_server import FakeMicrosoft
    from tests.fakes.tls import make_local_ca

    ca = make_local_ca(Path(tempfile.mkdtemp(prefix="bench-ca-")))
    ms = FakeMicrosoft(ca).start()
    settings.MS_CLIENT_ID = ms.client_id
    settings.MS_CLIENT_SECRET = ms.client_secret
    settings.MS_AUTHORITY = ms.authority
    settings.GRAPH_API_ENDPOINT = ms.graph_endpoint
    settings.MS_CA_BUNDLE = str(ca.ca_file)
    auth._HTTP_CACHE.clear()
    try:
        yield ms
    finally:
        ms.stop()


def outlook_account(ms: FakeMicrosoft, company: str, **fields: Any) -> tuple[FakeMailbox, MailAccount]:
    """A new rep's Outlook mailbox on ``ms``, connected through the real sign-in flow."""
    from inbox.models import Provider
    from sync.providers.outlook import auth

    address = f"rep-{time.time_ns()}@bench.test"
    mailbox = ms.add_mailbox(address)
    flow = auth.start_connect(OUTLOOK_REDIRECT_URI, login_hint=address)
    connected = auth.finish_connect(flow, ms.sign_in(flow["auth_uri"]))
    account = _personal_account(company, address, Provider.OUTLOOK, address, connected.credentials, fields)
    return mailbox, account


def _personal_account(
    company: str, rep: str, provider: str, address: str, credentials: dict[str, Any], fields: dict[str, Any]
) -> MailAccount:
    from accounts.models import Company, Plan, Role, User
    from inbox.models import AccountKind, MailAccount

    owner = Company.objects.create(name=company, plan=Plan.PREMIUM)
    user = User.objects.create_user(rep, company=owner, role=Role.ADMIN)
    return MailAccount.objects.create(
        company=owner,
        kind=AccountKind.PERSONAL,
        owner=user,
        provider=provider,
        address=address,
        credentials=credentials,
        **fields,
    )
