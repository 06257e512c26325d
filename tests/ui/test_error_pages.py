"""The app's own 404 / 403 / 400 / 500 pages, in its layout — with DEBUG on too (the demo)."""

from __future__ import annotations

import pytest

from tests.factories import receive
from web.views import inbox as views

pytestmark = pytest.mark.django_db

LAYOUT = 'class="topbar"'


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):  # type: ignore[no-untyped-def]
    settings.DEBUG = request.param
    return request.param


def test_an_unknown_address_and_a_missing_conversation_show_the_app_404(as_alice, debug):
    for path in ("/inbox/no-such-page/", "/inbox/c/987654/", "/crm/deal/987654/"):
        response = as_alice.get(path)
        html = response.content.decode()
        assert response.status_code == 404, path
        assert "Nothing here" in html and LAYOUT in html, path
        assert "URLconf" not in html and "Traceback" not in html, path


def test_another_mailbox_s_conversation_is_the_same_404_for_carol(client, carol, alice_mailbox, debug):
    convo = receive(alice_mailbox, subject="Acme only").conversation_id
    client.force_login(carol)
    html = client.get(f"/inbox/c/{convo}/").content.decode()
    assert "Nothing here" in html and "Acme only" not in html


def test_a_refused_change_shows_the_app_403(client, bob, sales_mailbox, debug):
    client.force_login(bob)  # a regular member may not change a team mailbox's switches
    url = f"/settings/email-sync/accounts/{sales_mailbox.pk}/switches/"
    response = client.post(url, {"archive_in_provider": "on"})
    html = response.content.decode()
    assert response.status_code == 403 and "Not allowed" in html and LAYOUT in html


def test_a_bad_request_typed_in_the_address_bar_is_a_page_htmx_gets_the_plain_reason(as_alice, debug):
    response = as_alice.get("/inbox/folder/spam/")
    html = response.content.decode()
    assert response.status_code == 400 and "Unknown folder." in html and LAYOUT in html
    response = as_alice.get("/inbox/folder/spam/", HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and response.content == b"Unknown folder."


def test_a_crash_shows_the_app_500_page_and_logs_the_traceback(client, alice, monkeypatch, settings, caplog):
    settings.DEBUG = True
    client.raise_request_exception = False

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom in a selector")

    monkeypatch.setattr(views.selectors, "recent_audit", crash)
    client.force_login(alice)
    response = client.get("/inbox/activity/")
    html = response.content.decode()
    assert response.status_code == 500 and "Something went wrong" in html and LAYOUT in html
    assert "boom in a selector" not in html
    assert "boom in a selector" in caplog.text


def test_small_wording_fixes(as_alice, alice, alice_mailbox, sales_mailbox, acme):
    from crm.models import Deal
    from inbox import services
    from inbox.models import UserSyncSettings

    assert UserSyncSettings._meta.verbose_name_plural == "user sync settings"
    convo = receive(alice_mailbox, subject="Linked").conversation_id
    services.link_deal(alice, convo, Deal.objects.create(company=acme, title="D").pk)
    html = as_alice.get("/inbox/activity/").content.decode()
    assert "Links live in Sales Inbox only" in html
    shared = receive(sales_mailbox, subject="Team one")
    preview = as_alice.get(f"/inbox/messages/{shared.message_id}/delete/").content.decode()
    assert f"for every member of the team mailbox {sales_mailbox}" in preview
