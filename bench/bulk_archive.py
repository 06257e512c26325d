"""Bulk archive of 10,000 conversations: the service call's time (transaction included).

python bench/bulk_archive.py --database-url postgres://.../bench
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    from bench.common import setup_django_on

    setup_django_on(args.database_url)
    from accounts.models import User
    from inbox import services
    from inbox.models import Conversation

    alice = User.objects.get(email="alice@demo.test")
    ids = list(
        Conversation.objects.filter(account__owner=alice, state="inbox").values_list("id", flat=True)[
            : args.count
        ]
    )
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        services.archive_conversations(alice, ids)
        samples.append(time.perf_counter() - started)
        services.unarchive_conversations(alice, ids)
    print(json.dumps({"conversations": len(ids), "archive_service_s": round(sorted(samples)[1], 3)}))


if __name__ == "__main__":
    main()
