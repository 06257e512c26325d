"""Every page of the app a rep can reach, on demo data (for the page-wide checks).

``each_page`` walks them all in one browser page: the signed-in pages (GET), the pages that
only a form's POST shows (the no-JavaScript confirmations), the Email sync pages on the Lite
plan, and the signed-out pages. A page added to web/urls belongs here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.test import Client
from playwright.sync_api import Page

from accounts.models import Company, Plan, User
from crm.models import Lead, Organization, Person, Project
from inbox.demo_data import seed_demo
from inbox.models import Attachment, Conversation, Draft, MailAccount, Message
from tests.factories import personal_account


@dataclass(frozen=True)
class DemoPages:
    alice: User
    bob: User
    paths: dict[str, str]
    # Shown only as the answer to a form's POST (no JavaScript): name -> (action, fields).
    posts: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    bob_posts: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    # The Email sync pages once the company is on Lite (the upgrade notice, what stays).
    lite_paths: dict[str, str] = field(default_factory=dict)
    lite_posts: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    signed_out_paths: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return [
            *self.paths,
            *self.posts,
            *(f"lite {n}" for n in [*self.lite_paths, *self.lite_posts]),
            *self.bob_posts,
            *self.signed_out_paths,
        ]


def _with_attachments(alice: User, exclude: int) -> tuple[Conversation, Attachment]:
    """A conversation with a spreadsheet and a file too large to fetch (its problem page)."""
    convo = (
        Conversation.objects.filter(account__owner=alice, state="inbox")
        .exclude(pk=exclude)
        .order_by("-last_message_at")
        .first()
    )
    assert convo is not None
    message = Message.objects.filter(conversation=convo).order_by("sent_at").first()
    assert message is not None
    meta = {"filename": "pilot-week6.xlsx", "size": 48213, "content_type": "application/vnd.ms-excel"}
    huge = {"filename": "site-survey-video.mov", "size": 10**12, "content_type": "video/quicktime"}
    Message.objects.filter(pk=message.pk).update(attachments=[meta, huge])
    Conversation.objects.filter(pk=convo.pk).update(has_attachments=True)
    Attachment.objects.create(message=message, account_id=message.account_id, **meta)
    too_large = Attachment.objects.create(message=message, account_id=message.account_id, position=1, **huge)
    return convo, too_large


def demo_pages(conversations: int = 40) -> DemoPages:
    seed_demo(conversations=conversations)
    alice = User.objects.get(email="alice@demo.test")
    bob = User.objects.get(email="bob@demo.test")
    convo = (
        Conversation.objects.filter(account__owner=alice, state="inbox", deal__isnull=False)
        .order_by("-last_message_at")
        .first()
        or Conversation.objects.filter(account__owner=alice).order_by("-last_message_at").first()
    )
    assert convo is not None
    with_files, too_large = _with_attachments(alice, exclude=convo.pk)
    team = MailAccount.objects.get(address="sales@demo.test")
    own = MailAccount.objects.get(address="alice@demo.test")
    # An IMAP mailbox (no server behind it) for the IMAP-only pages: its folder map.
    imap = personal_account(alice, address="alice@imap.demo.test")
    draft = Draft.objects.create(
        company=alice.company,
        author=alice,
        account=own,
        to=["Maja Nilsson <maja@client.test>"],
        subject="Pilot next steps",
        html="<p>Hi Maja, a draft.</p>",
    )
    first_message = Message.objects.filter(conversation=convo).order_by("sent_at").first()
    assert first_message is not None
    lead = Lead.objects.filter(company=alice.company).first()
    assert lead is not None and convo.deal_id is not None
    paths = {
        "inbox": "/inbox/",
        "sent": "/inbox/folder/sent/",
        "archive": "/inbox/folder/archive/",
        "search": "/inbox/?q=pricing",
        "search-archive-filter": "/inbox/folder/archive/?q=pricing",
        "team-mailbox": f"/inbox/?account={team.pk}",
        "conversation": f"/inbox/c/{convo.pk}/",
        "conversation-with-attachments": f"/inbox/c/{with_files.pk}/",
        "attachment-problem": f"/inbox/attachments/{too_large.pk}/",
        "delete-confirm-page": f"/inbox/actions/delete-preview/?ids={convo.pk}",
        "delete-email-confirm-page": f"/inbox/messages/{first_message.pk}/delete/",
        "compose": "/inbox/compose/",
        "compose-from-deal": f"/inbox/compose/?deal={convo.deal_id}",
        "reply": f"/inbox/c/{convo.pk}/reply/?fresh=1",
        "reply-all": f"/inbox/c/{convo.pk}/reply/?mode=reply_all&fresh=1",
        "forward": f"/inbox/c/{convo.pk}/reply/?mode=forward&fresh=1",
        "drafts": "/inbox/drafts/",
        "draft": f"/inbox/drafts/{draft.pk}/",
        "compose-settings": "/inbox/compose/settings/",
        "activity": "/inbox/activity/",
        "deals": "/crm/deal/",
        "leads": "/crm/lead/",
        "projects": "/crm/project/",
        "people": "/crm/person/",
        "organizations": "/crm/organization/",
        "deal": f"/crm/deal/{convo.deal_id}/",
        "lead": f"/crm/lead/{lead.pk}/",
        "project": f"/crm/project/{Project.objects.filter(company=alice.company).first().pk}/",
        "person": f"/crm/person/{Person.objects.filter(company=alice.company).first().pk}/",
        "organization": f"/crm/organization/{Organization.objects.filter(company=alice.company).first().pk}/",
        "settings": "/settings/email-sync/",
        "team-account": f"/settings/email-sync/accounts/{team.pk}/",
        "status": f"/settings/email-sync/accounts/{own.pk}/status/",
        "team-status": f"/settings/email-sync/accounts/{team.pk}/status/",
        "imap-status": f"/settings/email-sync/accounts/{imap.pk}/status/",
        "imap-folders": f"/settings/email-sync/connect/imap/{imap.pk}/folders/",
        "disconnect": f"/settings/email-sync/accounts/{own.pk}/disconnect/",
        "connect": "/settings/email-sync/connect/",
        "reconnect": f"/settings/email-sync/connect/?account={imap.pk}",
        "api": "/settings/api/",
        "time-zone": "/settings/time-zone/",
        "plan": "/settings/plan/",
        "not-found": "/inbox/c/999999999/",
        "bad-request": "/inbox/folder/spam/",
    }
    posts = {
        "link-replace-confirm-page": (
            f"/inbox/c/{convo.pk}/link/",
            {"target": "lead", "object_id": str(lead.pk)},
        ),
    }
    # Bob, a regular member, may not change the team mailbox's switches: the 403 page.
    bob_posts = {
        "forbidden": (f"/settings/email-sync/accounts/{team.pk}/switches/", {"archive_in_provider": "on"}),
    }
    lite_paths = {
        "settings": "/settings/email-sync/",
        "account": f"/settings/email-sync/accounts/{own.pk}/",
        "status": f"/settings/email-sync/accounts/{own.pk}/status/",
        "connect": "/settings/email-sync/connect/",
        "plan": "/settings/plan/",
    }
    # A switch flipped on Lite is refused with the upgrade notice (403).
    lite_posts = {"switches": ("/settings/email-sync/", {"archive_in_provider": "on"})}
    signed_out_paths = {
        "sign-in": "/accounts/login/",
        "password-reset": "/accounts/password/reset/",
    }
    return DemoPages(alice, bob, paths, posts, bob_posts, lite_paths, lite_posts, signed_out_paths)


_POST = """([action, fields]) => {
  const form = document.createElement("form");
  form.method = "post";
  form.action = action;
  const token = document.body.getAttribute("hx-headers");
  fields.csrfmiddlewaretoken = JSON.parse(token)["X-CSRFToken"];
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = value;
    form.append(input);
  }
  document.body.append(form);
  form.submit();
}"""


# Counts the page's own requests in flight (htmx's XMLHttpRequests, app.js's fetches): after
# the load event these are the only requests a page of the app makes (no lazy images, web
# fonts or CSS urls; the mail frames load before the load event).
_COUNT_REQUESTS = """(() => {
  window.__requestsInFlight = 0;
  const done = () => { window.__requestsInFlight -= 1; };
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    window.__requestsInFlight += 1;
    this.addEventListener("loadend", done, { once: true });
    return send.apply(this, args);
  };
  const fetch = window.fetch;
  window.fetch = function (...args) {
    window.__requestsInFlight += 1;
    return fetch.apply(this, args).finally(done);
  };
})();"""

# True once nothing has been in flight, swapping or settling for three animation frames in a
# row: a request an IntersectionObserver or a swapped-in fragment starts comes within a frame.
_QUIET = """() => {
  const busy = window.__requestsInFlight !== 0
    || document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added") !== null;
  window.__quietFrames = busy ? 0 : (window.__quietFrames || 0) + 1;
  return window.__quietFrames >= 3;
}"""


def _settle(page: Page) -> None:
    """Wait until the page has loaded and its follow-up requests (htmx's load and intersect
    triggers, the time-zone guess) are answered and swapped in. Playwright's "networkidle"
    waited for the same but then a fixed 500 ms more on each of the walk's pages."""
    page.wait_for_load_state("load")
    page.wait_for_function(_QUIET, polling="raf")


def _post(page: Page, action: str, fields: dict[str, str]) -> None:
    page.goto("/inbox/")
    _settle(page)
    with page.expect_navigation():
        page.evaluate(_POST, [action, fields])
    _settle(page)


def _sign_in_as(page: Page, user: User) -> None:
    client = Client()
    client.force_login(user)
    page.context.clear_cookies()
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    origin = "{0.scheme}://{0.netloc}/".format(urlsplit(page.url))
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": origin}])


def each_page(page: Page, demo: DemoPages) -> Iterator[str]:
    """Open every page in turn on ``page`` (signed in as alice); yields each page's name
    once it has loaded. Ends signed out, the company back on its plan."""
    page.add_init_script(_COUNT_REQUESTS)
    for name, path in demo.paths.items():
        page.goto(path)
        _settle(page)
        yield name
    for name, (action, fields) in demo.posts.items():
        _post(page, action, fields)
        yield name
    company = Company.objects.get(pk=demo.alice.company_id)
    plan = company.plan
    Company.objects.filter(pk=company.pk).update(plan=Plan.LITE)
    try:
        for name, path in demo.lite_paths.items():
            page.goto(path)
            _settle(page)
            yield f"lite {name}"
        for name, (action, fields) in demo.lite_posts.items():
            _post(page, action, fields)
            yield f"lite {name}"
    finally:
        Company.objects.filter(pk=company.pk).update(plan=plan)
    _sign_in_as(page, demo.bob)
    for name, (action, fields) in demo.bob_posts.items():
        _post(page, action, fields)
        yield name
    page.context.clear_cookies()
    for name, path in demo.signed_out_paths.items():
        page.goto(path)
        _settle(page)
        yield name
