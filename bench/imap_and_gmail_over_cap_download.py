"""Peak memory of downloading the attachment of a message above the body cap (IMAP, Gmail).

    .venv/bin/python bench/imap_and_gmail_over_cap_download.py [--size-mb 40] [--update-results]

A message of a short text and one ``--size-mb`` PDF (base64: about 1.37 times that on the
wire, so above the 25 MB body cap) is put in a real Dovecot and in the fake Gmail (its own
process, so the figure is the app's alone). The app imports it through the real pull —
headers, text and the attachment *listed* (IMAP ``BODYSTRUCTURE``, Gmail's ``format=full``
part tree) — and then, in a fresh process each, downloads the file through Django's WSGI
handler as a browser does (bench/imap_attachment_download.py ``measure``):

* ``first_download``: fetched from the provider — IMAP ``BODY.PEEK[2]<offset.1MB>``
  partial fetches decoded on the way; Gmail ``messages.attachments.get``, which answers
  the whole file as one base64url JSON string, streamed and decoded in 1 MB pieces as
  it arrives — into a temporary file, kept in the storage, then streamed;
* ``kept_download``: the same file again from the storage, no provider call.

Growth = peak RSS (VmHWM, reset just before) − RSS just before. The last line is JSON;
``--update-results`` merges it into bench/results/latest.json under "imap_and_gmail_over_cap_download".
Databases salesinbox_bench_overcap_{imap,gmail} (re-created; BENCH_DB_SUFFIX appended).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

KEY = "imap_and_gmail_over_cap_download"
ADDRESS = "bench-overcap@acme.test"
MB = 1024 * 1024


def big_message(size: int, to: str) -> tuple[bytes, str]:
    from bench.imap_attachment_download import big_pdf

    payload = big_pdf(size)
    msg = EmailMessage()
    msg["From"] = "dana@client.test"
    msg["To"] = to
    msg["Subject"] = f"The full export ({size // MB} MB)"
    msg["Message-ID"] = f"<over-cap-{time.time_ns()}@client.test>"
    msg["Date"] = "Wed, 02 Dec 2026 09:00:00 +0000"
    msg.set_content("The full export is attached.")
    msg.add_attachment(payload, "application", "pdf", filename="export.pdf")
    return msg.as_bytes(), hashlib.sha256(payload).hexdigest()


def serve_gmail(size: int, out: multiprocessing.Queue, stop: multiprocessing.Event) -> None:  # type: ignore[type-arg]
    import tests.fakes.gmail_server as fake

    server = fake.FakeGmail().start()
    mailbox = server.add_mailbox(ADDRESS)
    raw, digest = big_message(size, ADDRESS)
    mailbox.deliver(raw)
    out.put(
        {
            "endpoint": server.api_endpoint,
            "token_uri": server.token_uri,
            "refresh": mailbox.refresh_token,
            "client": (server.client_id, server.client_secret),
            "sha256": digest,
            "message_bytes": len(raw),
        }
    )
    del raw
    stop.wait()
    server.stop()


def _company_and_rep():  # type: ignore[no-untyped-def]
    from accounts.models import Company, Plan, Role, User

    company = Company.objects.create(name=f"Bench over-cap {time.time_ns()}", plan=Plan.PREMIUM)
    rep = User.objects.create_user(f"rep-{time.time_ns()}@bench.test", company=company, role=Role.ADMIN)
    return company, rep


def run_provider(provider: str, size: int) -> dict[str, object]:
    """One provider, in this (fresh) process: import through the real pull, then measure."""
    from bench.imap_attachment_download import run_child
    from bench.mailbox import setup_django, start_dovecot

    os.environ["ATTACHMENTS_DIR"] = tempfile.mkdtemp(prefix="bench-over-cap-")
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    stop_server = None
    if provider == "gmail":
        ctx = multiprocessing.get_context("spawn")
        out, stop = ctx.Queue(), ctx.Event()
        process = ctx.Process(target=serve_gmail, args=(size, out, stop), daemon=True)
        process.start()
        info = out.get(timeout=600)
        os.environ.update(
            GMAIL_API_ENDPOINT=info["endpoint"],
            GOOGLE_TOKEN_URI=info["token_uri"],
            GOOGLE_CLIENT_ID=info["client"][0],
            GOOGLE_CLIENT_SECRET=info["client"][1],
        )
        expected, message_bytes = info["sha256"], info["message_bytes"]

        def stop_server() -> None:
            stop.set()
            process.join(timeout=60)

    setup_django(f"salesinbox_bench_overcap_{provider}")
    from inbox.models import AccountKind, Attachment, MailAccount, Message, Provider
    from sync.pull import pull_account

    company, rep = _company_and_rep()
    try:
        if provider == "imap":
            from bench.mailbox import imap_account

            server = start_dovecot()
            stop_server = server.stop
            mail_user = server.add_user("bench")
            raw, expected = big_message(size, mail_user.address)
            message_bytes = len(raw)
            with mail_user.client() as imap:
                imap.append("INBOX", raw)
            del raw
            account = imap_account(mail_user, company=company, rep=rep)
        else:
            account = MailAccount.objects.create(
                company=company,
                kind=AccountKind.PERSONAL,
                owner=rep,
                provider=Provider.GMAIL,
                address=ADDRESS,
                credentials={"refresh_token": info["refresh"]},
            )
        summary = pull_account(account.pk)
        assert not summary.error, summary.error
        message = Message.objects.get(account=account)
        attachment = Attachment.objects.get(message=message, filename="export.pdf")
        listed = {"size": attachment.size, "part": attachment.part, "type": attachment.content_type}
        env = dict(os.environ)
        first = run_child("first", attachment.pk, rep.pk, env)
        kept = run_child("kept", attachment.pk, rep.pk, env)
    finally:
        if stop_server is not None:
            stop_server()
    for row in (first, kept):
        assert row["sha256"] == expected, row
    return {
        "message_mb": round(message_bytes / MB, 1),
        "imported_as": message.parse_problems[0][:120],
        "listed": listed,
        "first_download": first,
        "kept_download": kept,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=40)
    parser.add_argument("--provider", choices=("imap", "gmail"))
    parser.add_argument("--update-results", action="store_true")
    args = parser.parse_args()
    if args.provider:
        print(json.dumps(run_provider(args.provider, args.size_mb * MB)))
        return
    result: dict[str, object] = {
        "what": f"peak RSS growth of downloading the {args.size_mb} MB attachment of a message above the body cap",
        "attachment_mb": args.size_mb,
    }
    for provider in ("imap", "gmail"):
        out = subprocess.run(
            [sys.executable, __file__, "--provider", provider, "--size-mb", str(args.size_mb)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result[provider] = json.loads(out.strip().splitlines()[-1])
        print(f"{provider}: {result[provider]}", file=sys.stderr, flush=True)
    if args.update_results:
        from bench.common import merge_results

        merge_results({KEY: result})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
