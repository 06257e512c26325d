"""Peak memory of downloading a 40 MB attachment (target: the app's RSS grows < 50 MB).

    .venv/bin/python bench/imap_attachment_download.py [--size-mb 40] [--update-results]

A real Dovecot holds a message with a 40 MB PDF. The app knows the message as a pull of it
would have left it had it been under the body cap (parsed whole by
``sync.store.store_raw_message`` with its IMAP reference). A pull imports this 54 MB
message from its headers, text and BODYSTRUCTURE instead, with the same section number:
bench/imap_and_gmail_over_cap_download.py measures that path, through the real pull.
Each measurement then runs in a fresh process through Django's WSGI handler (the test
client), reading the streamed answer chunk by chunk and hashing it:

* ``first_download``: the attachment is not kept yet — partial ``BODY.PEEK[2]<offset.1MB>``
  fetches decoded on the way into a temporary file, saved to the storage, then streamed.
* ``kept_download``: the same file again, served from the storage (no IMAP).
* ``reference_whole_fetch``: what a naive implementation does — one ``BODY.PEEK[2]`` with
  raw imapclient and a base64 decode in memory.

Growth = peak RSS (VmHWM, reset just before) after the download − RSS just before it. The last line is
JSON for bench/run.py; ``--update-results`` also writes it into bench/results/latest.json
under "imap_attachment_download", keeping every other key.
Database salesinbox_bench_attachments (re-created).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_GROWTH_MB = 50
KEY = "imap_attachment_download"


def _status(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_mb() -> float:
    return _status("VmRSS")


def peak_rss_mb() -> float:
    """VmHWM: this process's own peak (ru_maxrss would carry the parent's peak over a
    fork + exec on Linux, and the parent held the 40 MB message)."""
    return _status("VmHWM")


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux ≥ 4.0), so the peak is the download's."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def big_pdf(size: int) -> bytes:
    block = hashlib.sha256(b"bench").digest() * 32768  # 1 MB, not compressible by base64
    out = bytearray(b"%PDF-1.4\n")
    while len(out) < size:
        out += block
    return bytes(out[:size])


def measure(mode: str, attachment_id: int, user_id: int) -> dict[str, object]:
    import django

    django.setup()
    from django.test import Client
    from django.urls import reverse

    from accounts.models import User
    from inbox.models import Attachment, ProviderRef

    attachment = Attachment.objects.select_related("account").get(pk=attachment_id)
    user = User.objects.get(pk=user_id)
    client = Client()
    client.force_login(user)
    url = reverse("inbox:attachment", args=[attachment_id])
    if mode == "reference":
        from imapclient import IMAPClient

        ref = ProviderRef.objects.get(message_id=attachment.message_id)
        config = attachment.account.config
        imap = IMAPClient(config["host"], port=config["port"], ssl=False)
        imap.login(config["login"], attachment.account.credentials["password"])
    reset_peak()
    before_rss, before_peak = rss_mb(), peak_rss_mb()
    started = time.perf_counter()
    digest = hashlib.sha256()
    size = 0
    if mode == "reference":
        imap.select_folder(ref.folder, readonly=True)
        data = imap.fetch([ref.uid], [f"BODY.PEEK[{attachment.part}]"])[ref.uid]
        encoded = next(v for k, v in data.items() if k.startswith(b"BODY["))
        decoded = base64.b64decode(encoded)
        digest.update(decoded)
        size = len(decoded)
        imap.logout()
    else:
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        for chunk in response.streaming_content:
            digest.update(chunk)
            size += len(chunk)
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    return {
        "mode": mode,
        "bytes": size,
        "sha256": digest.hexdigest(),
        "rss_before_mb": round(before_rss, 1),
        "peak_before_mb": round(before_peak, 1),
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(peak - before_rss, 1),
        "seconds": round(seconds, 2),
    }


def run_child(mode: str, attachment_id: int, user_id: int, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", mode, str(attachment_id), str(user_id)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=40)
    parser.add_argument("--update-results", action="store_true")
    parser.add_argument("--measure", nargs=3, metavar=("MODE", "ATTACHMENT", "USER"))
    args = parser.parse_args()
    if args.measure:
        mode, attachment_id, user_id = args.measure
        print(json.dumps(measure(mode, int(attachment_id), int(user_id))))
        return

    from bench.mailbox import setup_django, start_dovecot

    storage = tempfile.mkdtemp(prefix="bench-attachments-")
    os.environ["ATTACHMENTS_DIR"] = storage
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    setup_django("salesinbox_bench_attachments")
    from accounts.models import Company, Plan, Role, User
    from bench.mailbox import imap_account
    from inbox.models import Attachment
    from inbox.types import RefData
    from sync.providers.imap.client import ref_key
    from sync.store import store_raw_message

    server = start_dovecot()
    try:
        mail_user = server.add_user("bench")
        payload = big_pdf(args.size_mb * 1_048_576)
        msg = EmailMessage()
        msg["From"] = "dana@client.test"
        msg["To"] = mail_user.address
        msg["Subject"] = "The full export (40 MB)"
        msg["Message-ID"] = "<big-export@client.test>"
        msg.set_content("The full export is attached.")
        msg.add_attachment(payload, "application", "pdf", filename="export.pdf")
        raw = msg.as_bytes()
        expected = hashlib.sha256(payload).hexdigest()
        del payload
        with mail_user.client() as imap:
            imap.append("INBOX", raw)
            info = imap.select_folder("INBOX", readonly=True)
            uid = imap.search("ALL")[-1]
        company = Company.objects.create(name=f"Bench {time.time():.0f}", plan=Plan.PREMIUM)
        rep = User.objects.create_user(f"rep-{time.time_ns()}@bench.test", company=company, role=Role.ADMIN)
        account = imap_account(mail_user, company=company, rep=rep)
        uidvalidity = int(info[b"UIDVALIDITY"])
        ref = RefData(
            key=ref_key("INBOX", uidvalidity, uid), folder="INBOX", uidvalidity=uidvalidity, uid=uid
        )
        store_raw_message(account, raw, ref)
        attachment = Attachment.objects.get(account=account, filename="export.pdf")
        env = dict(os.environ)
        first = run_child("first", attachment.pk, rep.pk, env)
        kept = run_child("kept", attachment.pk, rep.pk, env)
        reference = run_child("reference", attachment.pk, rep.pk, env)
    finally:
        server.stop()
    for row in (first, kept, reference):
        assert row["sha256"] == expected, row
    result = {
        "what": f"peak RSS growth of downloading one {args.size_mb} MB attachment from Dovecot through the app",
        "target_growth_mb": TARGET_GROWTH_MB,
        "attachment_mb": args.size_mb,
        "growth_mb": max(first["growth_mb"], kept["growth_mb"]),  # type: ignore[type-var]
        "meets_target": max(first["growth_mb"], kept["growth_mb"]) < TARGET_GROWTH_MB,  # type: ignore[operator]
        "first_download": first,
        "kept_download": kept,
        "reference_whole_fetch": reference,
    }
    if args.update_results:
        from bench.common import merge_results

        merge_results({KEY: result})
    print(json.dumps(result))


if __name__ == "__main__":
    main()
