"""A part's headers: parameters, quoted-pairs, filename*, continuations,
Content-Transfer-Encoding, and the safe file name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asyncweb.forms.part_headers import safe_filename

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=())


@given(st.lists(st.one_of(st.characters(), SURROGATES)).map("".join))  # st.text() drops surrogates
def test_a_safe_filename_has_no_lone_surrogate(name: str) -> None:
    safe = safe_filename(name)
    safe.encode("utf-8")  # raises on a lone surrogate
    assert safe_filename(safe) == safe


@pytest.mark.parametrize("raw", ["\ud800.txt", "a\udfffb", "\udc80" + "x" * 300 + ".txt"])
def test_surrogates_in_a_name_become_replacement_characters(raw: str) -> None:
    safe = safe_filename(raw)
    assert "\ufffd" in safe and len(safe.encode("utf-8")) <= 255
