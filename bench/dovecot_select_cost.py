"""What one EXAMINE of a big INBOX costs Dovecot after another client changed it, per mail
store and setting — the server's share of issue 21's incremental pull, without the app.

    .venv/bin/python bench/dovecot_select_cost.py [--size 100000] [--store maildir|sdbox|mdbox]
        [--rounds 2] [--sleep 2.5] [--setting "maildir_very_dirty_syncs = yes"]

Fills INBOX (maildir: files written directly; dbox: MULTIAPPEND), reads every Message-ID once
(as bench/mailbox.py's uid_map does), then per round: another client appends 50 messages and
moves 50 to Archive, waits ``--sleep`` seconds, and fresh sessions EXAMINE INBOX — two at
once, two more 1.5 s later. Prints one JSON line. Not part of `make bench` (no Django, no app).

Why maildir grows (Dovecot 2.3, see src/lib-storage/index/maildir/maildir-sync.c): a change
to cur/ makes the next session that syncs the folder read the whole directory and match each
file name against dovecot-uidlist; the "delayed refresh" repeats that once more than a second
after the last change, so it happens even when the client comes back later.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.mailbox import small_messages
from tests.imap.dovecot import STORES, Dovecot


class TunedDovecot(Dovecot):
    def __init__(self, *args: object, setting: str = "", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.setting = setting

    def _config(self) -> str:
        return super()._config() + self.setting + "\n"


def examine_ms(user) -> float:  # type: ignore[no-untyped-def]
    client = user.client()
    try:
        t0 = time.perf_counter()
        client.select_folder("INBOX", readonly=True)
        return round((time.perf_counter() - t0) * 1000, 1)
    finally:
        client.logout()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--store", default="maildir", choices=STORES)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds between the change and the EXAMINE")
    parser.add_argument("--setting", default="", help="a line added to dovecot.conf")
    args = parser.parse_args()
    server = TunedDovecot("standard", store=args.store, setting=args.setting).start()
    try:
        user = server.add_user("select")
        t0 = time.perf_counter()
        server.fill(user, "INBOX", (raw for _mid, raw in small_messages(args.size, user.address, tag="s")))
        fill_s = time.perf_counter() - t0
        with user.client() as client:
            client.select_folder("INBOX", readonly=True)
            uids = client.search("ALL")
            for start in range(0, len(uids), 5000):
                client.fetch(uids[start : start + 5000], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        no_change = [examine_ms(user) for _ in range(5)]
        rounds = []
        for round_ in range(args.rounds):
            with user.client() as client:
                for _mid, raw in small_messages(50, user.address, tag=f"new{round_}"):
                    client.append("INBOX", raw)
                client.select_folder("INBOX")
                client.move(uids[50 * round_ : 50 * round_ + 50], "Archive")
            time.sleep(args.sleep)
            first = [examine_ms(user), examine_ms(user)]
            time.sleep(1.5)
            rounds.append({"after_change_ms": first, "1.5_s_later_ms": [examine_ms(user), examine_ms(user)]})
        print(
            json.dumps(
                {
                    "store": args.store,
                    "setting": args.setting,
                    "messages": args.size,
                    "sleep_s": args.sleep,
                    "fill_s": round(fill_s, 1),
                    "no_change_median_ms": statistics.median(no_change),
                    "rounds": rounds,
                    "load_average": round(os.getloadavg()[0], 1),
                }
            )
        )
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
