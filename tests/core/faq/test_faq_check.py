"""``check_folder`` (behind ``helpdesk faq check``) names every file the bot cannot
serve and every example question that would be routed to another entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.faq import FaqFolderError, check_folder, faq_folder, load_faq


def write(folder: Path, name: str, front: str, body: str = "An answer.") -> None:
    (folder / name).write_text(f"+++\n{front}\n+++\n{body}\n", encoding="utf-8")


def entry(folder: Path, entry_id: str, examples: str, keywords: str = "") -> None:
    for locale in ("zh_TW", "en"):
        write(
            folder,
            f"{entry_id}.{locale}.md",
            f'id = "{entry_id}"\ntitle = "T"\nexamples = [{examples}]\nkeywords = [{keywords}]',
        )


def messages(folder: Path) -> list[str]:
    return [str(problem) for problem in check_folder(folder)]


def test_the_demo_folder_has_no_problems() -> None:
    assert check_folder(faq_folder("demo")) == []


def test_a_good_folder_has_no_problems(tmp_path: Path) -> None:
    entry(tmp_path, "parking", '"停車證怎麼申請", "how do I get a parking permit"', '"停車"')
    assert messages(tmp_path) == []


def test_missing_front_matter_is_reported(tmp_path: Path) -> None:
    (tmp_path / "x.en.md").write_text("just text\n", encoding="utf-8")
    assert messages(tmp_path) == [f"{tmp_path / 'x.en.md'}: no front matter: start the file "
                                  "with +++, TOML, +++"]  # fmt: skip


def test_bad_toml_and_bad_fields_are_reported_with_the_field(tmp_path: Path) -> None:
    write(tmp_path, "a.en.md", 'id = "a"\ntitle = ')
    write(tmp_path, "b.en.md", 'id = "b"\ntitle = "B"\nexamples = []')
    write(tmp_path, "c.en.md", 'id = "C c"\ntitle = "C"\nexamples = ["q"]')
    write(tmp_path, "d.en.md", 'id = "d"\ntitle = "D"\nexamples = ["q"]\ncolour = "red"')
    found = "\n".join(messages(tmp_path))
    assert "a.en.md: front matter is not valid TOML" in found
    assert "b.en.md: front matter field 'examples'" in found
    assert "c.en.md: front matter field 'id'" in found
    assert "d.en.md: front matter field 'colour'" in found


def test_an_empty_answer_and_an_unknown_language_are_reported(tmp_path: Path) -> None:
    write(tmp_path, "a.en.md", 'id = "a"\ntitle = "A"\nexamples = ["q"]', body="")
    write(tmp_path, "a.fr.md", 'id = "a"\ntitle = "A"\nexamples = ["q"]')
    found = "\n".join(messages(tmp_path))
    assert "a.en.md: the answer (after the front matter) is empty" in found
    assert "a.fr.md: name it <id>.<locale>.md" in found


def test_an_answer_missing_a_language_is_reported(tmp_path: Path) -> None:
    write(tmp_path, "parking.en.md", 'id = "parking"\ntitle = "P"\nexamples = ["parking permit"]')
    assert messages(tmp_path) == [f"{tmp_path / 'parking.en.md'}: no zh_TW version of 'parking'"]


def test_duplicate_ids_and_ids_that_name_a_flow_are_reported(tmp_path: Path) -> None:
    entry(tmp_path, "parking", '"parking permit", "停車證"')
    write(tmp_path, "parking2.en.md", 'id = "parking"\ntitle = "P"\nexamples = ["car park"]')
    entry(tmp_path, "card", '"library card", "借書證"')
    found = "\n".join(messages(tmp_path))
    assert "parking2.en.md: duplicate id 'parking' (also in parking.en.md)" in found
    assert "card.en.md: id 'card' is the name of a flow" in found


def test_an_example_shared_with_a_flow_or_another_answer_is_reported(tmp_path: Path) -> None:
    entry(tmp_path, "parking", '"parking permit", "停車證"')
    entry(tmp_path, "permits", '"Parking  permit", "我忘記密碼了"')
    found = "\n".join(messages(tmp_path))
    assert "example 'Parking  permit' is also an example of answer 'parking'" in found
    assert "example '我忘記密碼了' is also an example of flow 'forgot_password'" in found


def test_an_example_the_matcher_routes_elsewhere_is_reported(tmp_path: Path) -> None:
    entry(tmp_path, "parking", '"parking permit", "停車證", "學號"')
    found = "\n".join(messages(tmp_path))
    assert "example '學號' is matched to flow 'student_id'" in found


def test_an_answer_that_captures_a_flows_question_is_reported(tmp_path: Path) -> None:
    entry(tmp_path, "passwords", '"密碼規則", "password rules"', '"重設密碼", "reset password"')
    found = "\n".join(messages(tmp_path))
    assert "flow 'forgot_password' example" in found
    assert "is answered by 'passwords'" in found


def test_loading_a_folder_with_a_broken_file_names_it(tmp_path: Path) -> None:
    write(tmp_path, "parking.en.md", 'id = "parking"\ntitle = "P"\nexamples = ["parking"]')
    with pytest.raises(FaqFolderError, match="no zh_TW version of 'parking'"):
        load_faq(tmp_path)


def test_a_profile_without_a_folder_matches_flows_only(tmp_path: Path) -> None:
    faq = load_faq(tmp_path / "absent")
    assert faq.entries == {}
    best = faq.match("我忘記密碼了").best
    assert best is not None and best.key == "forgot_password"
    assert check_folder(tmp_path / "absent")[0].message == "no such folder"
