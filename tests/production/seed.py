"""Seed the smoke stack's fresh database as an operator would after `migrate`: a company,
a rep with a password, the archive switch on, and her IMAP mailbox connected (verified
login, discovered folders, first sync nudged onto the pull queue).

Run with the stack's environment: ``python -m tests.production.seed EMAIL PASSWORD
IMAP_LOGIN IMAP_PASSWORD IMAP_PORT``.
"""

from __future__ import annotations

import os
import sys

import django


def main(email: str, password: str, imap_login: str, imap_password: str, imap_port: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")  # as manage.py does
    django.setup()
    from django.db import transaction

    from accounts.models import Company, Plan, Role, User
    from inbox.models import AccountKind, MailAccount, Provider, UserSyncSettings
    from inbox.services.nudge import nudge_sync_after_commit
    from sync.providers.imap import verify_mailbox

    verified = verify_mailbox(
        host="127.0.0.1", port=imap_port, security="none", login=imap_login, password=imap_password
    )
    with transaction.atomic():
        company = Company.objects.create(name="Acme", plan=Plan.PREMIUM)
        user = User.objects.create_user(
            email, password, company=company, role=Role.ADMIN, name="Alice Andersson"
        )
        UserSyncSettings.objects.create(user=user, archive_in_provider=True, delete_in_provider=False)
        account = MailAccount.objects.create(
            company=company,
            kind=AccountKind.PERSONAL,
            owner=user,
            provider=Provider.IMAP,
            address=imap_login,
            name=imap_login,
            credentials={"password": imap_password},
            config=verified.config,
        )
        nudge_sync_after_commit(account.pk)
    print(account.pk)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
