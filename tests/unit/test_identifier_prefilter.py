"""identifier-too-long reads a statement's tokens only when its text may hold a long name: never miss one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pglast.parser import scan

from scrydon_migrate.rules.identifier_too_long import MAX_IDENTIFIER_BYTES, _identifiers, _may_hold_a_long_name

_NAMES = st.builds(
    str.__add__, st.sampled_from("abzéд"), st.text(st.sampled_from("abcxyz_09$éд"), min_size=0, max_size=80)
)
_QUOTED = st.text(st.sampled_from('ab "é.,;()'), min_size=1, max_size=80).map(
    lambda s: '"' + s.replace('"', '""') + '"'
)


def _longest_name(text: str) -> int:
    """Bytes of the longest identifier as written, read by the scanner: the truth the prefilter must cover."""
    longest = 0
    for token in scan(text):
        if token.name == "IDENT":
            written = text[token.start : token.end + 1]
            if written.startswith('"'):
                written = written[1:-1].replace('""', '"')
            longest = max(longest, len(written.encode()))
    return longest


@given(st.lists(st.one_of(_NAMES, _QUOTED), min_size=1, max_size=4), st.sampled_from([" ", ".", ", ", "\n\t"]))
def test_a_statement_with_a_long_name_is_always_scanned(names: list[str], separator: str) -> None:
    text = f"CREATE TABLE {names[0]} ({separator.join(f'{n} text' for n in names)});"
    if _longest_name(text) > MAX_IDENTIFIER_BYTES:
        assert _may_hold_a_long_name(text)
        assert any(len(name.encode()) > MAX_IDENTIFIER_BYTES for name, _ in _identifiers(text))


def test_ascii_names_of_63_bytes_are_not_scanned_and_of_64_are() -> None:
    kept, cut = "a" * 63, "a" * 64
    assert not _may_hold_a_long_name(f'ALTER TABLE t ADD COLUMN {kept} text, ADD COLUMN "{kept}" text;')
    assert _may_hold_a_long_name(f"ALTER TABLE t ADD COLUMN {cut} text;")
    assert _may_hold_a_long_name(f'ALTER TABLE t ADD COLUMN "{cut}" text;')
    assert not _may_hold_a_long_name(f'ALTER TABLE t ADD COLUMN "{"a" * 31}""{"a" * 31}" text;')  # 63 bytes
    assert _may_hold_a_long_name(f'ALTER TABLE t ADD COLUMN "{"a" * 32}""{"a" * 31}" text;')
