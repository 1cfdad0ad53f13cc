"""The real-world corpus beside the checkout: ``../shared/corpus`` (calendars, mail and API
samples collected from public projects; each folder's SOURCES.md says where every file came
from). It is not part of the repository and is never copied into it, so in a fresh clone it is
missing, and each test that reads it skips with a reason that says so.

    @needs_corpus("ics")                 # skip the test unless ../shared/corpus/ics exists
    path = corpus_path("mail", "x.eml")  # inside a test: the path, or skip the test
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def missing_reason(path: Path) -> str:
    return (
        f"needs the real-world corpus beside the checkout (../shared/corpus, not part of the "
        f"repository): {path} is missing"
    )


def needs_corpus(*parts: str) -> pytest.MarkDecorator:
    """A mark that skips a test (or, as ``pytestmark``, a module) unless ``CORPUS/parts``
    exists."""
    path = CORPUS.joinpath(*parts)
    return pytest.mark.skipif(not path.exists(), reason=missing_reason(path))


def corpus_path(*parts: str) -> Path:
    """``CORPUS/parts``; skips the calling test when it is missing."""
    __tracebackhide__ = True  # pytest -rs then reports the caller's line, not this one
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        pytest.skip(missing_reason(path))
    return path
