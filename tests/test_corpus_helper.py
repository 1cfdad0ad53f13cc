"""The corpus helper (tests/corpus.py): a test that needs ../shared/corpus says so when it
skips, naming the missing path."""

from __future__ import annotations

import pytest
from corpus import CORPUS, corpus_path, needs_corpus


def test_a_missing_corpus_path_skips_the_test_naming_it() -> None:
    with pytest.raises(pytest.skip.Exception) as skipped:
        corpus_path("no-such-folder", "x.ics")
    reason = str(skipped.value)
    assert "real-world corpus beside the checkout" in reason
    assert "../shared/corpus" in reason
    assert str(CORPUS / "no-such-folder" / "x.ics") in reason


def test_the_mark_skips_only_when_the_path_is_missing() -> None:
    missing = needs_corpus("no-such-folder").kwargs
    assert missing["reason"].endswith(f"{CORPUS / 'no-such-folder'} is missing")
    assert needs_corpus("no-such-folder").args == (True,)
    assert needs_corpus().args == (not CORPUS.exists(),)
