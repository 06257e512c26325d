"""Inbox list at N conversations (3 messages each) on PostgreSQL: the page through the test
client (server time, template included), the selector alone, and the raw keyset SQL for
the same page side by side. Prints one JSON object.

    python bench/inbox_list.py --size 10000 --database-url postgres://.../bench
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    from bench.common import setup_django_on

    setup_django_on(args.database_url)
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from bench.common import timed
    from inbox import selectors

    alice = User.objects.get(email="alice@demo.test")
    client = Client()
    client.force_login(alice)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    account_ids = list(selectors.accessible_accounts(alice).values_list("id", flat=True))
    raw_sql = (
        "SELECT id, last_message_at FROM inbox_conversation WHERE account_id = ANY(%s) "
        "AND state = 'inbox' AND has_incoming ORDER BY last_message_at DESC, id DESC LIMIT 51"
    )

    def raw() -> None:
        with connection.cursor() as cursor:
            cursor.execute(raw_sql, [account_ids])
            cursor.fetchall()

    def page() -> None:
        response = client.get("/inbox/")
        assert response.status_code == 200, (response.status_code, response.content[:300])

    def selector() -> None:
        selectors.folder_page(alice, "inbox")

    # request_started clears the query log, so each capture starts from an empty one.
    reset_queries()
    with CaptureQueriesContext(connection) as page_queries:
        page()
    reset_queries()
    with CaptureQueriesContext(connection) as selector_queries:
        selector()
    result: dict[str, object] = {
        "size": args.size,
        "inbox_page": {**timed(page, runs=args.runs), "queries": len(page_queries)},
        "folder_page_selector": {**timed(selector, runs=args.runs), "queries": len(selector_queries)},
        "raw_keyset_sql": timed(raw, runs=args.runs),
    }
    api = Client()
    token = _api_token(alice)
    if token:

        def api_list() -> None:
            response = api.get(f"/api/v1/mailbox/mailThreads?folder=inbox&limit=50&api_token={token}")
            assert response.status_code == 200, response.content[:200]

        reset_queries()
        with CaptureQueriesContext(connection) as api_queries:
            api_list()
        result["api_mail_threads"] = {**timed(api_list, runs=args.runs), "queries": len(api_queries)}
    print(json.dumps(result))


def _api_token(user) -> str | None:  # type: ignore[no-untyped-def]
    """The API's own token command, when the API app provides one."""
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    try:
        call_command("create_api_token", user.email, stdout=out)
    except (CommandError, LookupError):
        return None
    except Exception:  # the API is optional here; the inbox figures stand alone
        return None
    return out.getvalue().strip().split()[-1]


if __name__ == "__main__":
    main()
