"""Folders as servers name them: special-use flags first (``\\All`` included), then the
common localized names, top-level folders before nested look-alikes, the namespace prefix
("INBOX." on Courier/Cyrus) stripped before comparing."""

from __future__ import annotations

import pytest

from sync.providers.imap import verify_mailbox
from sync.providers.imap.folders import FolderMap, ListedFolder, choose_folders
from tests.imap.dovecot import Dovecot


def _listed(*names: str, delimiter: str = "/", flags: dict[str, bytes] | None = None) -> list[ListedFolder]:
    flags = flags or {}
    return [
        ListedFolder(name, frozenset({flags[name].lower()} if name in flags else set()), delimiter)
        for name in names
    ]


def test_a_nested_look_alike_does_not_beat_a_top_level_archive():
    chosen = choose_folders(_listed("INBOX", "Clients", "Clients/Archive", "Archives"))
    assert chosen.archive == "Archives" and chosen.guessed["archive"]


def test_a_nested_folder_is_still_found_when_nothing_else_matches():
    chosen = choose_folders(_listed("INBOX", "Mail", "Mail/Trash"))
    assert chosen.trash == "Mail/Trash"


def test_names_are_compared_below_the_namespace_prefix():
    listed = _listed(
        "INBOX", "INBOX.Kunden", "INBOX.Kunden.Archiv", "INBOX.Archiv", "INBOX.Gesendete Elemente",
        "INBOX.Gelöschte Elemente", delimiter=".",
    )  # fmt: skip
    chosen = choose_folders(listed, prefix="INBOX.")
    assert (chosen.sent, chosen.archive, chosen.trash) == (
        "INBOX.Gesendete Elemente",
        "INBOX.Archiv",
        "INBOX.Gelöschte Elemente",
    )


@pytest.mark.parametrize(
    ("sent", "archive", "trash"),
    [
        ("Sent Items", "Archive", "Deleted Items"),  # English Outlook
        ("Gesendete Elemente", "Archiv", "Gelöschte Elemente"),  # German Outlook
        ("Éléments envoyés", "Archives", "Éléments supprimés"),  # French Outlook
        ("Elementos enviados", "Archivo", "Elementos eliminados"),  # Spanish Outlook
        ("Itens Enviados", "Arquivo Morto", "Itens Excluídos"),  # Portuguese (Brazil) Outlook
        ("Posta inviata", "Archivio", "Posta eliminata"),  # Italian Outlook
        ("Verzonden items", "Archief", "Verwijderde items"),  # Dutch Outlook
        ("Отправленные", "Архив", "Удаленные"),  # Russian
        ("送信済みアイテム", "アーカイブ", "削除済みアイテム"),  # Japanese Outlook
        ("已发送邮件", "存档", "已删除邮件"),  # Chinese (simplified)
        ("寄件備份", "封存", "刪除的郵件"),  # Chinese (traditional) Outlook
        ("Elementy wysłane", "Archiwum", "Elementy usunięte"),  # Polish Outlook
        ("Skickat", "Arkiv", "Papperskorgen"),  # Swedish
    ],
)
def test_localized_folder_names_are_recognized(sent: str, archive: str, trash: str):
    chosen = choose_folders(_listed("INBOX", "Drafts", "Junk", sent.upper(), archive, trash))
    assert (chosen.sent, chosen.archive, chosen.trash) == (sent.upper(), archive, trash)
    assert chosen.guessed == {"sent": True, "archive": True, "trash": True}


def test_special_use_flags_win_over_names_and_all_mail_is_found():
    listed = _listed(
        "INBOX", "Trash", "[Gmail]", "[Gmail]/All Mail", "[Gmail]/Sent Mail", "[Gmail]/Trash",
        flags={"[Gmail]/All Mail": b"\\All", "[Gmail]/Sent Mail": b"\\Sent", "[Gmail]/Trash": b"\\Trash"},
    )  # fmt: skip
    chosen = choose_folders(listed)
    assert chosen.trash == "[Gmail]/Trash" and chosen.sent == "[Gmail]/Sent Mail"
    assert chosen.all_mail == "[Gmail]/All Mail" and chosen.archive is None
    assert chosen.archives_into_all_mail
    assert chosen.guessed == {"sent": False, "archive": False, "trash": False}
    assert FolderMap.from_config(chosen.to_config()) == chosen


def test_unselectable_folders_are_never_chosen():
    listed = [ListedFolder("Archive", frozenset({b"\\noselect"}), "/"), *_listed("INBOX", "Archives")]
    assert choose_folders(listed).archive == "Archives"


# --- against real servers -------------------------------------------------------------------


@pytest.mark.dovecot
def test_localized_server_with_inbox_prefix_is_mapped_by_name(dovecot_localized: Dovecot):
    user = dovecot_localized.add_user()
    verified = verify_mailbox(password=user.password, **user.account_config())  # type: ignore[arg-type]
    assert verified.config["folders"] == {
        "inbox": "INBOX",
        "sent": "INBOX.Gesendete Elemente",
        "archive": "INBOX.Archiv",
        "trash": "INBOX.Gelöschte Elemente",
    }
    assert verified.config["folder_guessed"] == {"sent": True, "archive": True, "trash": True}


@pytest.mark.dovecot
def test_a_users_nested_archive_folder_does_not_become_the_archive(dovecot_fallback: Dovecot):
    user = dovecot_fallback.add_user()
    with user.client() as client:
        client.create_folder("Clients")
        client.create_folder("Clients/Archive")
    verified = verify_mailbox(password=user.password, **user.account_config())  # type: ignore[arg-type]
    assert verified.folders.archive == "Archives"
