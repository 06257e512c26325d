"""Fixtures for the Outlook adapter: a test CA, the fake Microsoft identity platform and Graph
(tests/plugins/servers.py: one pair of TLS servers for the whole session, state reset per
test by ``ms``), and helpers that
connect a mailbox the way a user would (authorization-code flow with PKCE through msal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from accounts.models import Company, User
from inbox.models import MailAccount, Provider
from inbox.services import ingest_message
from inbox.types import IngestResult, RefData
from sync.providers.base import PullReport
from sync.providers.outlook import auth as graph_auth
from sync.pull import pull_account
from tests.factories import parsed, personal_account, team_account
from tests.fakes.graph_server import FakeMailbox, FakeMicrosoft, make_mime

REDIRECT_URI = "https://inbox.example.test/email-sync/microsoft/callback"


def sign_in(ms: FakeMicrosoft, address: str, *, team: bool = False) -> graph_auth.ConnectedMailbox:
    """What the connect view does: start the flow, the user signs in, redeem the code."""
    flow = graph_auth.start_connect(REDIRECT_URI, login_hint=address, team=team)
    return graph_auth.finish_connect(flow, ms.sign_in(flow["auth_uri"]))


def deliver(mailbox: FakeMailbox, folder: str = "inbox", *, days_ago: float = 1 / 24, **fields: Any) -> str:
    """A message in the fake mailbox's ``folder``, received (and dated) ``days_ago`` days ago
    (an hour by default), to the mailbox's own address unless ``to`` says otherwise."""
    when = datetime.now(UTC) - timedelta(days=days_ago)
    fields.setdefault("to", [mailbox.address])
    return mailbox.deliver(folder=folder, received=when, date=when, **fields)


def pull(account: MailAccount) -> PullReport:
    """A pull of the account that must not fail: its report."""
    summary = pull_account(account.pk)
    assert not summary.error, summary.error
    return summary.report


def outlook_personal(
    ms: FakeMicrosoft, user: User, address: str | None = None, *, archive: bool = True, personal: bool = False
) -> tuple[MailAccount, FakeMailbox]:
    """``personal``: a personal Microsoft account (outlook.com), which refuses ``.Shared`` scopes."""
    address = address or user.email
    mailbox = ms.add_mailbox(address, archive=archive, personal=personal)
    account = personal_account(user, provider=Provider.OUTLOOK, address=address)
    account.credentials = sign_in(ms, address).credentials
    account.save(update_fields=["credentials"])
    return account, mailbox


def outlook_team(
    ms: FakeMicrosoft,
    company: Company,
    members: list[User],
    address: str = "sales@acme.test",
    *,
    shared_by: User | None = None,
) -> tuple[MailAccount, FakeMailbox]:
    """A team account: its own sign-in, or (``shared_by``) an Exchange shared mailbox opened
    with that member's delegated sign-in."""
    if shared_by is not None:
        ms.add_mailbox(shared_by.email)
        mailbox = ms.add_mailbox(address, delegates=[shared_by.email])
        credentials = sign_in(ms, shared_by.email, team=True).credentials
    else:
        mailbox = ms.add_mailbox(address)
        credentials = sign_in(ms, address, team=True).credentials
    account = team_account(company, members, address=address, provider=Provider.OUTLOOK)
    account.credentials = credentials
    account.config = {"shared_mailbox": True} if shared_by is not None else {}
    account.save(update_fields=["credentials", "config"])
    return account, mailbox


def seed(
    account: MailAccount, mailbox: FakeMailbox, *, folder: str = "inbox", **fields: object
) -> tuple[str, IngestResult]:
    """A message in the Outlook mailbox that the app already knows (as a pull would leave it),
    for push tests that are not about pulling."""
    message = parsed(to=(account.address,), incoming=folder != "sentitems", **fields)  # type: ignore[arg-type]
    mime = make_mime(
        subject=message.subject,
        sender=message.sender.email if message.sender else "",
        to=[a.email for a in message.to],
        message_id=message.message_id,
        in_reply_to=message.in_reply_to,
        date=message.date,
        text=message.text,
    )
    graph_id = mailbox.deliver(mime, folder=folder, received=message.date)
    result = ingest_message(account, message, RefData(key=graph_id, folder=folder))
    return graph_id, result
