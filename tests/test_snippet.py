"""A conversation's snippet is the text's first 200 characters with whitespace runs as one
space: ``snippet_of`` (str.split) gives exactly what the regex it replaced gave."""

from __future__ import annotations

import random
import re
import sys

import pytest

from inbox.services.ingest import SNIPPET_CHARS, snippet_of

_SPACE = re.compile(r"\s+")


def by_regex(text: str) -> str:
    """The snippet as the regex path computed it: the whole text collapsed, then cut."""
    return _SPACE.sub(" ", text).strip()[:SNIPPET_CHARS]


def test_split_and_the_regex_agree_on_what_whitespace_is():
    # Every code point: str.split/str.strip use str.isspace, the regex its \s.
    regex = {c for c in range(sys.maxunicode + 1) if _SPACE.fullmatch(chr(c))}
    split = {c for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    assert regex == split


WHITESPACE = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]


@pytest.mark.parametrize("seed", range(5))
def test_snippets_of_random_texts_match_the_regex_path(seed):
    rng = random.Random(seed)
    words = ["Hello", "Bob,", "price", "é", "\udcc3", "25", "—", "seats", "x" * 300]
    for _ in range(400):
        # Long whitespace runs too: the prefix doubles until it holds 200 characters.
        pieces = [
            rng.choice(words)
            if rng.random() < 0.5
            else "".join(rng.choices(WHITESPACE, k=rng.choice([1, 2, 50, 900])))
            for _ in range(rng.randint(0, 60))
        ]
        text = "".join(pieces)
        assert snippet_of(text) == by_regex(text), pieces


def test_a_snippet_of_nothing_is_empty():
    assert snippet_of("") == ""
    assert snippet_of(None) == ""  # type: ignore[arg-type]
    assert snippet_of(" \r\n\t\x1c\u3000 " * 1000) == ""
