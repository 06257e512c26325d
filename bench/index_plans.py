"""Proof before dropping an index: the plan of every query the app sends that could use it,
with the index and without it.

    DATABASE_URL=postgres://.../salesinbox_<tag>_big .venv/bin/python bench/index_plans.py \\
        --drop inbox_message_account_id_44d5ab47 ... [--out docs/bench/index-plans.txt]

The database is one ``seed_demo --conversations 100000`` (then ``VACUUM (ANALYZE)``).
The app's real code runs against it while every statement it sends is recorded
(``connection.execute_wrapper``): alice's folder pages, searches (bench/search_scale.py's
queries), conversation pages, message bodies, counts, CRM records and the API's lists and
details; then a real IMAP account on the test Dovecot — adopted by a real pull, an
incremental pull that imports the initial-sync bench's message mix, an archive pushed to
Dovecot. Each recorded SELECT/UPDATE/DELETE is EXPLAINed twice: as it is, and inside a
transaction that drops the candidate indexes (rolled back: nothing is dropped). A query
whose plan used a dropped index must keep an index scan on an index that starts with the
same column of the same table; the report lists every such query and every plan that
changed at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DEBUG"] = "1"  # pages need the static files unhashed (no collectstatic manifest here)
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "RVpRVGtkN3F6cXh2bUhRd0lVVXp5a1dHbHd2b3V3d1E=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

Recorded = list[tuple[str, str, Any]]


class Recorder:
    """Every statement sent while active, with the scenario that sent it."""

    def __init__(self) -> None:
        self.statements: Recorded = []
        self.scenario = ""

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if not many and sql.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE"):
            self.statements.append((self.scenario, sql, params))
        return execute(sql, params, many, context)


def web_and_api(recorder: Recorder) -> None:
    from accounts.models import User
    from api.tokens import issue_token
    from crm.models import Deal, Person
    from inbox.models import Attachment, Conversation, Message

    alice = User.objects.get(email="alice@demo.test")
    client = Client()
    client.force_login(alice)
    convs = list(
        Conversation.objects.filter(company_id=alice.company_id)
        .order_by("-id")
        .values_list("id", flat=True)[:3]
    )
    with_files = Attachment.objects.filter(account__company_id=alice.company_id).values_list(
        "message__conversation_id", "message_id", "id"
    )[:1]
    deal = Deal.objects.filter(company_id=alice.company_id).order_by("id").first()
    person = Person.objects.filter(company_id=alice.company_id).order_by("id").first()
    message = Message.objects.filter(conversation_id=convs[0]).values_list("id", flat=True).first()
    pages = ["/inbox/", "/inbox/folder/sent/", "/inbox/folder/archive/", "/inbox/?page=3", "/inbox/counts/"]
    pages += ["/inbox/activity/", "/inbox/drafts/", "/settings/email-sync/"]
    for query in ["pricing", "questionnaire", "contract renewal", "pilot sso", "Maya Silva", "Anna Berg",
                  "maya.silva92@acme.test", "northwind.test", "zyxwvut"]:  # fmt: skip
        pages += [f"/inbox/?q={query}", f"/inbox/folder/archive/?q={query}"]
    pages += [f"/inbox/c/{pk}/" for pk in convs]
    pages += [f"/inbox/messages/{message}/body/", f"/inbox/c/{convs[0]}/picker/"]
    for conv, msg, att in with_files:
        pages += [f"/inbox/c/{conv}/", f"/inbox/messages/{msg}/body/", f"/inbox/attachments/{att}/"]
    if deal is not None:
        pages += ["/crm/deal/", f"/crm/deal/{deal.pk}/", f"/inbox/history/deal/{deal.pk}/"]
    if person is not None:
        pages += ["/crm/person/", f"/crm/person/{person.pk}/"]
    for account_id in alice.company.mail_accounts.values_list("id", flat=True):
        pages += [
            f"/settings/email-sync/accounts/{account_id}/",
            f"/settings/email-sync/accounts/{account_id}/status/",
        ]
    token = issue_token(alice)
    api = [f"/api/v1/mailbox/mailThreads?folder={f}&limit=50" for f in ("inbox", "sent", "archive")]
    api += [f"/api/v1/mailbox/mailThreads/{convs[0]}", f"/api/v1/mailbox/mailThreads/{convs[0]}/mailMessages"]
    api += [f"/api/v1/mailbox/mailMessages/{message}", f"/api/v1/mailbox/mailMessages/{message}/files"]
    for _conv, msg, att in with_files:
        api += [f"/api/v1/mailbox/mailMessages/{msg}/files", f"/api/v1/files/{att}"]
    if deal is not None:
        api += ["/api/v1/deals", f"/api/v1/deals/{deal.pk}/mailMessages", "/api/v2/deals"]
    if person is not None:
        api += ["/api/v1/persons", f"/api/v1/persons/{person.pk}/mailMessages", "/api/v2/persons"]
    with transaction.atomic():
        recorder.scenario = "web"
        for path in pages:
            status = client.get(path).status_code
            print(f"  {status} {path}")
        recorder.scenario = "api"
        for path in api:
            status = client.get(path, HTTP_X_API_TOKEN=token).status_code
            print(f"  {status} {path}")
        transaction.set_rollback(True)  # pages that mark things read, the token


def sync_paths(recorder: Recorder, messages: int) -> None:
    """A real IMAP account: adopted, pulled incrementally with the initial-sync bench's mix,
    an archive pushed. Its rows are deleted afterwards."""
    from bench.imap_initial_sync import build_messages
    from bench.mailbox import adopt, bulk_ingest, make_account, small_messages, start_dovecot, uid_map
    from inbox.models import Conversation
    from inbox.services import archive_conversations
    from sync.pull import pull_account
    from sync.push import push_account

    server = start_dovecot()
    try:
        user = server.add_user("plans")
        known = small_messages(messages, user.address, tag="plans")
        server.write_maildir(user, "INBOX", (raw for _mid, raw in known))
        with user.client() as client:
            uidvalidity, mids = uid_map(client)
        rep, account = make_account(user, archive_switch=True)
        bulk_ingest(account, "INBOX", uidvalidity, mids)
        recorder.scenario = "pull (adopt)"
        adopt(account)
        server.write_maildir(user, "INBOX", build_messages(300, user.address))
        recorder.scenario = "pull (import)"
        pull_account(account.pk)
        recorder.scenario = "pull (nothing new)"
        pull_account(account.pk)
        ids = list(
            Conversation.objects.filter(account=account).order_by("id").values_list("id", flat=True)[:50]
        )
        recorder.scenario = "archive + push"
        archive_conversations(rep, ids)
        push_account(account.pk)
        recorder.scenario = ""
        rep.company.delete()
    finally:
        server.cleanup()


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def explain(sql: str, params: Any) -> tuple[list[str], str]:
    """(index names the plan uses, the plan as one line per node)."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    used = [n["Index Name"] for n in nodes if "Index Name" in n]
    text = " > ".join(
        n["Node Type"]
        + (
            f" {n['Index Name']}"
            if "Index Name" in n
            else f" {n['Relation Name']}"
            if "Relation Name" in n
            else ""
        )
        for n in nodes
    )
    return used, text


def index_columns() -> dict[str, tuple[str, str]]:
    """index name -> (table, first column; "" for an expression)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT i.relname, t.relname, COALESCE(a.attname, '')
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
               LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
               WHERE t.relnamespace = 'public'::regnamespace"""
        )
        return {name: (table, column) for name, table, column in cursor.fetchall()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--drop", nargs="+", required=True, help="the candidate indexes")
    parser.add_argument("--messages", type=int, default=3000, help="the IMAP account's known messages")
    parser.add_argument("--out", default="", help="write the report here too")
    args = parser.parse_args()

    recorder = Recorder()
    started = time.perf_counter()
    with connection.execute_wrapper(recorder):
        web_and_api(recorder)
        sync_paths(recorder, args.messages)
    print(f"recorded {len(recorder.statements)} statements in {time.perf_counter() - started:.0f} s")

    unique: dict[str, tuple[str, Any]] = {}
    for scenario, sql, params in recorder.statements:
        unique.setdefault(sql, (scenario, params))
    columns = index_columns()
    dropped = {name: columns[name] for name in args.drop}
    before = {}
    for sql, (_scenario, params) in unique.items():
        try:
            before[sql] = explain(sql, params)
        except Exception as exc:  # a statement of rows since deleted: planned anyway, or skipped
            before[sql] = ([], f"(not explained: {exc.__class__.__name__})")
    after = {}
    with transaction.atomic():
        with connection.cursor() as cursor:
            for name in args.drop:
                cursor.execute(f'DROP INDEX "{name}"')
        for sql, (_scenario, params) in unique.items():
            if before[sql][1].startswith("(not explained"):
                continue
            after[sql] = explain(sql, params)
        transaction.set_rollback(True)

    lines = [f"{len(unique)} distinct statements ({len(recorder.statements)} sent); candidates:"]
    lines += [f"  {name}  on {table}({column})" for name, (table, column) in dropped.items()]
    problems = 0
    for sql, (scenario, _params) in unique.items():
        if sql not in after:
            continue
        used_before, plan_before = before[sql]
        used_after, plan_after = after[sql]
        hit = [name for name in used_before if name in dropped]
        if not hit and plan_before == plan_after:
            continue
        verdicts = []
        for name in hit:
            table, column = dropped[name]
            same_shape = [u for u in used_after if columns.get(u) == (table, column)]
            verdicts.append(
                f"{name} -> {', '.join(same_shape) or 'NO INDEX ON ' + table + '(' + column + ')'}"
            )
            problems += not same_shape
        if not hit:
            verdicts.append("PLAN CHANGED without using a candidate")
            problems += 1
        lines += [
            "",
            f"[{scenario}] {sql[:600]}",
            f"  before: {plan_before}",
            f"  after : {plan_after}",
            *(f"  {v}" for v in verdicts),
        ]
    lines += ["", f"queries whose plan lost its index shape or changed otherwise: {problems}", ""]
    # The rest, for the record: every statement that names a candidate's column, plan unchanged.
    for table, column in dropped.values():
        named = [sql for sql in after if f'"{table}"."{column}"' in sql and before[sql][1] == after[sql][1]]
        lines.append(f"== {len(named)} more statements name {table}.{column}; their plans are unchanged:")
        for sql in named:
            lines += [f"  [{unique[sql][0]}] {sql[:300]}", f"      {before[sql][1][:300]}"]
    report = "\n".join(lines)
    print(report)
    if args.out:
        Path(args.out).write_text(report + "\n")


if __name__ == "__main__":
    main()
