"""The Korean interface: the language switch works and the catalogue is complete.

The catalogue lives in locale/ko/LC_MESSAGES: django.po (edited by people) and django.mo
(compiled with `manage.py compilemessages -l ko`, committed, read by Django at run time).
"""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

LC_MESSAGES = Path(__file__).resolve().parents[1] / "locale" / "ko" / "LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"

_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _unquote(token: str) -> str:
    token = token.strip()
    assert token.startswith('"') and token.endswith('"'), token
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), token[1:-1])


def _po_entries(path: Path) -> list[dict]:
    """A small .po reader: one dict per entry with msgid, msgid_plural, msgstr[n] and flags."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"flags": set()}
        key = None
        for line in block.strip("\n").splitlines():
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#~"):  # obsolete entry: not part of the catalogue
                entry = {"flags": set()}
                break
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                entry[key] += _unquote(line)
            else:
                match = re.match(r'^(msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")$', line)
                assert match, f"unreadable line in {path.name}: {line!r}"
                key = match.group(1)
                entry[key] = _unquote(match.group(2))
        if "msgid" in entry:
            entries.append(entry)
    return entries


def _translations(entry: dict) -> list[str]:
    return [value for key, value in sorted(entry.items()) if key.startswith("msgstr")]


def _placeholders(text: str) -> list[str]:
    """%(name)s-style and {name}-style variables, %% and HTML tags: all must survive translation."""
    found = re.findall(r"%\([a-z_]+\)[-#0 +]*\d*(?:\.\d+)?[sdfr]|%%|\{[a-z_]+\}|</?[a-z]+[^>]*>", text)
    return sorted(found)


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    assert PO.exists(), "run makemessages -l ko first"
    return _po_entries(PO)


def test_every_message_has_a_korean_translation(entries):
    header = next(e for e in entries if e["msgid"] == "")
    assert "Language: ko\n" in header["msgstr"]
    assert "Plural-Forms: nplurals=1; plural=0;" in header["msgstr"]
    messages = [e for e in entries if e["msgid"]]
    assert len(messages) > 400
    untranslated = [e["msgid"] for e in messages if not all(s.strip() for s in _translations(e))]
    assert untranslated == []
    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    assert fuzzy == []
    plural = [e for e in messages if "msgid_plural" in e]
    assert plural and all(set(k for k in e if k.startswith("msgstr")) == {"msgstr[0]"} for e in plural)


def test_translations_keep_placeholders_and_markup(entries):
    wrong = []
    for e in entries:
        if not e["msgid"]:
            continue
        expected = _placeholders(e.get("msgid_plural", e["msgid"]))
        for text in _translations(e):
            if _placeholders(text) != expected:
                wrong.append((e["msgid"], text))
    assert wrong == []


def test_translations_are_korean(entries):
    hangul = re.compile(r"[\uac00-\ud7a3]")
    # Names and abbreviations that read the same in Korean.
    same = {"REST API", "AI", "CSV", "JSON", "P(AI)"}
    not_korean = [e["msgid"] for e in entries if e["msgid"] and e["msgid"] not in same
                  and not all(hangul.search(t) for t in _translations(e))]
    assert not_korean == []


def test_compiled_catalogue_matches_the_po_file(entries):
    assert MO.exists(), "run manage.py compilemessages -l ko and commit django.mo"
    with MO.open("rb") as fh:
        catalogue = gettext.GNUTranslations(fh)
    stale = []
    for e in entries:
        if not e["msgid"]:
            continue
        if "msgid_plural" in e:
            got = catalogue.ngettext(e["msgid"], e["msgid_plural"], 2)
            want = e["msgstr[0]"]
        else:
            got, want = catalogue.gettext(e["msgid"]), e["msgstr"]
        if got != want:
            stale.append(e["msgid"])
    assert stale == [], "django.mo is out of date: run manage.py compilemessages -l ko"


def test_choosing_korean_switches_the_login_page(client):
    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/accounts/login/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"

    page = client.get("/accounts/login/")
    assert page.status_code == 200
    html = page.content.decode()
    assert '<html lang="ko"' in html
    assert "<h1>로그인</h1>" in html
    assert "사용자 이름" in html and "비밀번호" in html
    assert "aiornot은 사람의 판단을 돕습니다. 결정은 사람이 내립니다." in html
    assert "Sign in" not in html


def test_english_stays_the_default(client):
    html = client.get("/accounts/login/").content.decode()
    assert '<html lang="en"' in html
    assert "<h1>Sign in</h1>" in html
