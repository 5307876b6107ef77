"""Security headers on every HTML page (issue 13): a strict Content Security Policy (django-csp) with a
per-request nonce, Referrer-Policy and Permissions-Policy; and no page or template that needs more than that
policy allows (no inline script without the nonce, no ``on*=`` handler, no ``style=`` attribute, no
``javascript:`` URL, no htmx attribute that htmx would have to ``eval``).

The same policy is checked in Chromium, with every CSP violation the browser reports failing the test, by
tests/browser/test_csp_browser.py."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.browser.test_every_page_browser import ANONYMOUS_PAGES, signed_in_pages, trader_with_data
from tests.browser.test_screens_browser import btc_1h_slice, market  # noqa: F401 (fixtures)
from tests.conftest import needs_postgres
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
CSP = "Content-Security-Policy"
# What a page may never need (script-src) or never get (style-src) whatever it carries.
NEVER = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'wasm-unsafe-eval'", "*", "data:", "http:", "https:"}
EXPECTED = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "connect-src": ["'self'"],
    "font-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Types of <script> a browser does not run (data for a static script: json_script, allauth's onload data).
DATA_SCRIPTS = {"application/json", "application/ld+json"}


def policy(response) -> dict[str, list[str]]:
    header = response.headers.get(CSP)
    assert header, f"no {CSP} header"
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: values for name, *values in directives}


def style_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


class PageScan(HTMLParser):
    """What a rendered page carries that the policy must allow: scripts, styles and attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict[str, str | None]] = []  # attributes (+ "text" for an inline one)
        self.styles: list[dict[str, str | None]] = []
        self.problems: list[str] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        named = dict(attrs)
        for name, value in attrs:
            value = (value or "").strip()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>: an inline event handler")
            elif name == "style":
                self.problems.append(f'<{tag} style="{value}">: a style attribute')
            elif name in ("href", "src", "action", "formaction") and value.lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}={value!r}>: a javascript: URL")
            elif name.startswith(("hx-on", "data-hx-on")):
                self.problems.append(f"<{tag} {name}=…>: htmx would eval it")
            elif name in ("hx-vals", "hx-vars", "data-hx-vals", "data-hx-vars") and (
                name.endswith("vars") or value.startswith(("js:", "javascript:"))
            ):
                self.problems.append(f"<{tag} {name}={value!r}>: htmx would eval it")
            elif name in ("hx-trigger", "data-hx-trigger") and "[" in value:
                self.problems.append(f"<{tag} {name}={value!r}>: an event filter, which htmx evals")
        if tag == "link" and "stylesheet" in (named.get("rel") or "") and not _same_origin(named.get("href")):
            self.problems.append(f"<link href={named.get('href')!r}>: a style sheet from another host")
        if tag in ("script", "style"):
            self._open = named
            self._text = []

    def handle_data(self, data):
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._open is not None:
            self._open["text"] = "".join(self._text)
            (self.scripts if tag == "script" else self.styles).append(self._open)
            self._open = None


def _same_origin(url: str | None) -> bool:
    return bool(url) and url.startswith("/") and not url.startswith("//")


def page_problems(response, *, ours: bool) -> list[str]:
    """What in ``response`` breaks the policy. ``ours``: a page of Trendy's layout, which carries the nonce."""
    problems = []
    directives = policy(response)
    for name, values in EXPECTED.items():
        if directives.get(name) != values:
            problems.append(f"{name} is {directives.get(name)}, not {values}")
    script_src, style_src = directives.get("script-src", []), directives.get("style-src", [])
    problems += [f"script-src allows {v}" for v in script_src if v in NEVER or "://" in v]
    problems += [f"style-src allows {v}" for v in style_src if v in NEVER or "://" in v]
    if "'self'" not in script_src or "'self'" not in style_src:
        problems.append(f"script-src {script_src} / style-src {style_src} lack 'self'")
    nonces = {v[len("'nonce-") : -1] for v in script_src if v.startswith("'nonce-")}
    if ours and len(nonces) != 1:
        problems.append(f"script-src {script_src} carries no nonce")
    if any(v.startswith("'nonce-") for v in style_src):
        problems.append(f"style-src {style_src} carries a nonce: styles are files")
    scan = PageScan()
    scan.feed(response.content.decode())
    problems += scan.problems
    for script in scan.scripts:
        if (script.get("type") or "").lower() in DATA_SCRIPTS:
            continue
        if script.get("src") is not None:
            if not _same_origin(script["src"]):
                problems.append(f"<script src={script['src']!r}>: a script from another host")
        elif script.get("nonce") not in nonces:
            problems.append(f"an inline <script> without the page's nonce: {script['text'].strip()[:80]!r}")
    for style in scan.styles:
        if style_hash(style["text"]) not in style_src:
            problems.append(f"an inline <style> the policy does not allow: {style['text'].strip()[:80]!r}")
    return problems


def header_problems(response) -> list[str]:
    problems = []
    if response.headers.get("Referrer-Policy") != "same-origin":
        problems.append(f"Referrer-Policy is {response.headers.get('Referrer-Policy')!r}")
    permissions = response.headers.get("Permissions-Policy", "")
    features = dict(part.strip().split("=", 1) for part in permissions.split(",") if "=" in part)
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "browsing-topics"):
        if features.get(feature) != "()":
            problems.append(f"Permissions-Policy {permissions!r} does not turn {feature} off")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    return problems


def _plain_paths() -> list[str]:
    """Every URL without a parameter (outside the admin, which is visited model by model)."""
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route)
            elif isinstance(p, URLPattern) and not re.search(r"[<(\\^$]", route):
                found.append("/" + route)

    walk(get_resolver().url_patterns, "")
    return [path for path in found if not path.startswith(("/admin/", "/metrics", "/healthz"))]


def _check(client, path: str, seen: set[str], problems: list[str], **extra) -> None:
    response = client.get(path, follow=True, **extra)
    query = response.request.get("QUERY_STRING")
    final = response.request["PATH_INFO"] + (f"?{query}" if query else "")
    if not response.get("Content-Type", "").startswith("text/html") or response.status_code >= 500:
        if response.status_code >= 500:
            problems.append(f"{path}: HTTP {response.status_code}")
        return
    seen.add(final)
    ours = b'name="htmx-config"' in response.content  # Trendy's layout (base.html)
    problems += [f"{path}: {p}" for p in page_problems(response, ours=ours) + header_problems(response)]


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_every_html_page_sends_a_strict_policy_with_a_nonce(client, market):  # noqa: F811 (the fixture)
    problems: list[str] = []
    seen: set[str] = set()
    for _, path in ANONYMOUS_PAGES:
        _check(client, path, seen, problems)
    for path in _plain_paths():
        _check(client, path, seen, problems)

    user, ids = trader_with_data()
    ids.update(run_both=ids["run"], run_gaps=ids["run"], optimisation=ids["run"])
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    # Through the sign-in form: allauth's two-factor pages ask for a recent sign-in.
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.content[:2000]
    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})  # the enrolment asks
    assert response.status_code == 302, response.content[:2000]
    signed_in = [path for _, path in signed_in_pages(ids)] + [
        "/strategies/ema_crossover/pine/",
        "/accounts/2fa/totp/activate/",
    ]
    for path in signed_in + _plain_paths():
        _check(client, path, seen, problems)
    # The browsable API: every list, and one object.
    for path in _plain_paths():
        if path.startswith("/api/v1/") and not path.startswith(("/api/v1/docs", "/api/v1/schema")):
            _check(client, path, seen, problems, HTTP_ACCEPT="text/html")
    _check(client, f"/api/v1/bots/{ids['bot']}/", seen, problems, HTTP_ACCEPT="text/html")
    # The admin: the index, every model's list and add form, and the first row's change form.
    call_command("setup_periodic_tasks")  # rows for Celery beat's forms
    _check(client, reverse("admin:index"), seen, problems)
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        _check(client, reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"), seen, problems)
        if model_admin.has_add_permission(_request(client, user)):
            _check(client, reverse(f"admin:{meta.app_label}_{meta.model_name}_add"), seen, problems)
        first = model.objects.order_by("pk").first()
        if first is not None:
            _check(client, reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[first.pk]), seen, problems)

    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems)
    # The walk reached the pages it is meant to: the layout's, allauth's, the API's, the admin's.
    for expected in ("/", "/accounts/login/", "/trading/dashboard/", "/accounts/2fa/totp/activate/", "/api/v1/docs/",
                     "/api/v1/bots/", "/admin/", "/webhooks/", f"/strategies/backtests/{ids['run']}/"):  # fmt: skip
        assert expected in seen, f"{expected} was not checked: {sorted(seen)}"


def _request(client, user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_the_policy_is_what_the_issue_asks(client, db):
    """No page data needed: the home page's headers and the policy as configured."""
    response = client.get("/")
    directives = policy(response)
    for name, values in EXPECTED.items():
        assert directives[name] == values, name
    assert directives["script-src"][0] == "'self'" and directives["script-src"][1].startswith("'nonce-")
    assert len(directives["script-src"]) == 2
    nonce = directives["script-src"][1][len("'nonce-") : -1]
    assert f'nonce="{nonce}"' in response.content.decode()
    assert client.get("/").headers[CSP] != response.headers[CSP], "the nonce is new on every request"
    assert header_problems(response) == []


def test_the_chart_librarys_style_hash_matches_the_vendored_file():
    """Lightweight Charts adds one <style> element of its own (the TradingView attribution logo, which its
    licence asks us to keep): the policy allows exactly that text by its SHA-256, nothing else inline."""
    source = (ROOT / "static/vendor/lightweight-charts/lightweight-charts.standalone.production.js").read_text()
    texts = re.findall(r'createElement\("style"\),this\.\w+\.innerText="([^"]+)"', source)
    assert len(texts) == 1, "the vendored chart library's inline style changed: update the hash in settings"
    style_src = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src"]
    assert style_hash(texts[0]) in style_src
    assert [v for v in style_src if v.startswith("'sha256-")] == [style_hash(texts[0])]


def test_the_browsable_apis_code_style_file_matches_pygments():
    """The browsable API's code colours come from a static file (not an inline <style>): the same rules DRF
    would have inlined, so that a Pygments upgrade that changes them is noticed."""
    from rest_framework.compat import pygments_css
    from rest_framework.renderers import BrowsableAPIRenderer

    served = (ROOT / "static/css/drf-code-style.css").read_text()
    assert pygments_css(BrowsableAPIRenderer.code_style).strip() in served


# --- the templates themselves ----------------------------------------------------------------------------------

TEMPLATE_DIRS = [ROOT / "templates", *sorted(ROOT.glob("*/templates"))]
# A template construct, with what the policy says about it.
FORBIDDEN = [
    (re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*\bnonce=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
     "an inline <script> without the nonce"),
    (re.compile(r"<script\b[^>]*\bsrc=\"(?!\{% static )[^\"]*\"", re.I), "a script not from {% static %}"),
    (re.compile(r"<style\b", re.I), "an inline <style> (styles are files: static/…css)"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an inline event handler (on…=)"),
    (re.compile(r"\sstyle\s*=", re.I), "a style attribute"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
    (re.compile(r"\s(data-)?hx-on", re.I), "hx-on (htmx evals it)"),
    (re.compile(r"\s(data-)?hx-vars\s*=|\s(data-)?hx-vals\s*=\s*['\"]\s*js:", re.I), "hx-vars / hx-vals js: (eval)"),
    (re.compile(r"\s(data-)?hx-trigger\s*=\s*\"[^\"]*\[", re.I), "an hx-trigger event filter (eval)"),
    (re.compile(r"<link\b[^>]*href=\"(https?:)?//", re.I), "a style sheet from another host"),
]  # fmt: skip


COMMENT = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)


def test_no_template_needs_inline_script_or_style():
    templates = [path for folder in TEMPLATE_DIRS for path in folder.rglob("*.html")]
    assert len(templates) > 50, TEMPLATE_DIRS
    problems = []
    for path in templates:
        text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text())  # what a comment says
        for pattern, what in FORBIDDEN:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{path.relative_to(ROOT)}:{line}: {what}: {match.group(0)[:80]!r}")
    assert problems == [], "\n".join(problems)


def test_no_project_script_needs_eval():
    # The project's own scripts: not vendored ones, collected copies, or any virtualenv (.venv, .venv-bench …).
    found = ROOT.glob("**/static/**/*.js")
    hidden = ("vendor", "staticfiles")
    scripts = [
        p for p in found if not any(part.startswith(".") or part in hidden for part in p.relative_to(ROOT).parts)
    ]
    assert scripts
    problems = []
    for path in scripts:
        text = path.read_text()
        for pattern in (r"\beval\(", r"new Function\(", r"setTimeout\(\s*['\"]", r"setAttribute\(\s*['\"]style['\"]",
                        r"\.cssText\b", r"style=", r"<style"):  # fmt: skip
            if re.search(pattern, text):
                problems.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert problems == [], problems


def test_htmx_is_configured_for_the_policy(client, db):
    """htmx evaluates nothing (allowEval off: an hx-on or a filter would be refused and logged, not run), has
    no nonce to give a <script> in a swapped fragment (json_script data in fragments must stay, so script tags
    are not stripped), does not inject its indicator <style> (the indicator rules are in trendy.css) and does
    not settle style attributes."""
    import json

    html = client.get("/accounts/login/").content.decode()
    config = json.loads(re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", html).group(1))
    assert config["allowEval"] is False and not config.get("inlineScriptNonce")
    assert config["includeIndicatorStyles"] is False
    # Settling copies the old element's attributes onto the new one with setAttribute; a style attribute (one
    # a script set through element.style, say) copied that way is refused by the policy.
    assert "style" not in config["attributesToSettle"]
    assert ".htmx-indicator" in (ROOT / "static/css/trendy.css").read_text()
