"""Korean is kept complete beside English: the catalogue, the compiled file and the pages."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "ko" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def _untranslated(po: polib.POFile) -> list[str]:
    return [e.msgid for e in po if not e.obsolete and (not e.translated() or "fuzzy" in e.flags)]


def test_korean_catalogue_is_complete():
    po = polib.pofile(str(PO))
    assert len(po) > 50
    assert _untranslated(po) == []


def test_compiled_catalogue_matches():
    po = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in polib.pofile(str(PO)) if not e.obsolete}
    mo = {(e.msgctxt, e.msgid): e.msgstr or e.msgstr_plural for e in polib.mofile(str(MO))}
    mo.pop((None, ""), None)
    assert po == mo, "locale/ko/LC_MESSAGES/django.mo is stale: run `make messages`"


@pytest.mark.skipif(not os.environ.get("TRENDY_I18N_CHECK") and not shutil.which("xgettext"), reason="needs gettext")
def test_every_source_string_is_in_the_catalogue(tmp_path):
    """Re-extract the strings from the sources into a copy: nothing may come out untranslated."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "var", "staticfiles", "node_modules"))
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "ko",
            "--ignore=benchmarks",
            "--ignore=tests",
            "--ignore=static/vendor",
        ],
        cwd=copy,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    missing = _untranslated(polib.pofile(str(copy / "locale" / "ko" / "LC_MESSAGES" / "django.po")))
    assert missing == [], f"untranslated strings (run `make messages` and translate): {missing}"


@pytest.mark.django_db
def test_pages_switch_to_korean(client, alice):
    client.cookies["django_language"] = "ko"
    html = client.get("/").content.decode()
    assert '<html lang="ko">' in html
    assert "로그인" in html
    client.force_login(alice)
    html = client.get("/settings/").content.decode()
    assert "위험 관리" in html or "리스크" in html


@pytest.mark.django_db
def test_language_switch(client):
    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/"})
    assert response.status_code == 302
    assert client.cookies["django_language"].value == "ko"
    assert '<html lang="ko">' in client.get("/").content.decode()
