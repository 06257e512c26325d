"""A search word's SQL, compiled by the ORM once per shape and then filled in for each word.

Building a word's conditions as querysets and compiling them (participants, bodies, the
subject, each with its full-text and substring tests) cost 3–5 ms of Python per word and
query: most of a search's Python time, more than its statements took on the database. The
SQL text of these conditions depends only on how many mailboxes are searched; the word
and the mailbox ids are parameters. So a builder is compiled once for each number of
mailboxes, with a sentinel word and sentinel ids, and each call fills the parameters in.
``tests/ui/test_search_sql.py`` checks that what is filled in is exactly what the ORM
compiles for the real word and mailboxes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection

SqlWithParams = tuple[str, list[Any]]
WordBuilder = Callable[[str, list[int]], SqlWithParams]

# A word no one searches for (a search word is letters, digits and "_"; none has "qq" around
# it and "searchword" in the middle) and mailbox ids no row has.
SENTINEL_WORD = "qqsearchwordqq"
_SENTINEL_ACCOUNT = -900_000_001


@dataclass(frozen=True)
class _Slot:
    """Where a parameter of the compiled template comes from."""

    kind: str  # "account" (the index-th mailbox), "like" (the word as a LIKE substring),
    # "word" (``value`` with the sentinel replaced by the word), "const" (``value`` as is)
    value: Any = None
    index: int = 0

    def fill(self, word: str, like: str, account_ids: list[int]) -> Any:
        if self.kind == "account":
            return account_ids[self.index]
        if self.kind == "like":
            return like
        if self.kind == "word":
            return self.value.replace(SENTINEL_WORD, word)
        return self.value


def _slot(param: Any, accounts: list[int]) -> _Slot:
    if isinstance(param, int) and not isinstance(param, bool) and param in accounts:
        return _Slot("account", index=accounts.index(param))
    if param == f"%{SENTINEL_WORD}%":
        return _Slot("like")
    if isinstance(param, str) and SENTINEL_WORD in param:
        return _Slot("word", param)
    return _Slot("const", param)


def compiled_once(build: WordBuilder) -> WordBuilder:
    """``build(word, account_ids)`` compiled once per number of mailboxes (see the module)."""

    @functools.lru_cache(maxsize=16)
    def template(mailboxes: int) -> tuple[str, tuple[_Slot, ...]]:
        accounts = [_SENTINEL_ACCOUNT - i for i in range(mailboxes)]
        sql, params = build(SENTINEL_WORD, accounts)
        if SENTINEL_WORD in sql:
            raise ValueError(f"{build.__name__} puts the word in its SQL text, not in a parameter")
        return sql, tuple(_slot(p, accounts) for p in params)

    @functools.wraps(build)
    def filled(word: str, account_ids: list[int]) -> SqlWithParams:
        sql, slots = template(len(account_ids))
        like = f"%{connection.ops.prep_for_like_query(word)}%"
        return sql, [slot.fill(word, like, account_ids) for slot in slots]

    return filled
