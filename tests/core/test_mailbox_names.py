"""Mailbox names from passport names (seed 004) and splitting long texts."""

from __future__ import annotations

from core.mailbox_names import candidates, free_names
from core.text import text_parts


def test_lin_ming_zhi_gets_the_seeds_kind_of_names() -> None:
    names = candidates("Lin Ming-Zhi")
    assert names[:4] == ["ming-zhi.lin", "mingzhi.lin", "mzlin", "linmz"]
    assert "lin.mingzhi" in names


def test_a_taken_name_is_never_offered() -> None:
    offered = free_names("Lin Ming-Zhi", {"ming-zhi.lin", "mzlin"})
    assert "ming-zhi.lin" not in offered and "mzlin" not in offered
    assert offered[0] == "mingzhi.lin"


def test_when_every_name_is_taken_numbered_ones_are_offered() -> None:
    taken = set(candidates("Lin Ming-Zhi"))
    offered = free_names("Lin Ming-Zhi", taken)
    assert offered and all(name not in taken for name in offered)
    assert "ming-zhi.lin2" in offered


def test_accents_and_odd_spacing_are_folded() -> None:
    assert candidates("  Nguyễn   Văn-An ")[0] == "van-an.nguyen"
    assert candidates("") == []


def test_long_texts_are_split_into_parts_without_losing_anything() -> None:
    text = "\n\n".join(f"Paragraph {n}. " + "word " * 100 for n in range(10))
    parts = text_parts(text, limit=700)
    assert len(parts) > 1 and all(len(part) <= 700 for part in parts)
    assert "".join(parts).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )
