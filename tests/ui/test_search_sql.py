"""A search word's SQL compiled once per number of mailboxes and filled in per word
(``inbox.search_sql``) is exactly what the ORM compiles for that word and those mailboxes."""

from __future__ import annotations

import pytest

from inbox import selectors
from inbox.search_sql import SENTINEL_WORD, compiled_once

BUILDERS = [
    selectors._people_sql,
    selectors._bodies_fts_sql,
    selectors._bodies_sql,
    selectors._subject_sql,
    selectors._probe_sql,
    selectors._all_people_sql,
    selectors._all_bodies_sql,
]

# What ``search_terms`` can give: letters of any script, digits, "_" (a LIKE wildcard the
# filled-in pattern must escape as the ORM does), one letter, and the sentinel itself.
WORDS = ["maya", "anna_berg", "2291", "überweisung", "東京", "x", SENTINEL_WORD, "q" + SENTINEL_WORD]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
@pytest.mark.parametrize("account_ids", [[7], [3, 1], [5, 6, 2, 9]], ids=len)
def test_the_filled_in_sql_is_what_the_orm_compiles_for_the_word(build, account_ids):  # type: ignore[no-untyped-def]
    for word in WORDS:
        assert build(word, account_ids) == build.__wrapped__(word, account_ids), word


def test_a_builder_that_writes_the_word_into_its_sql_text_is_refused():
    @compiled_once
    def inlined(word: str, account_ids: list[int]) -> tuple[str, list[object]]:
        return f"SELECT '{word}'", []

    with pytest.raises(ValueError, match="puts the word in its SQL text"):
        inlined("maya", [1])
