"""A listing's description: the creator's Markdown rendered, and nothing of a script, a handler, a javascript: link
or a tracking image survives (``marketplace.markdown``)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from marketplace.markdown import render


def test_markdown_is_rendered():
    html = render("# Rules\n\n**Long** when *fast* crosses.\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h3>Rules</h3>" in html and "<strong>Long</strong>" in html and "<em>fast</em>" in html
    assert "<li>one</li>" in html and "<td>1</td>" in html
    link = render("[docs](https://example.com/x)")
    assert '<a href="https://example.com/x" rel="nofollow noopener noreferrer">docs</a>' in link


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "![pixel](https://tracker.example/p.gif)",
        '<a href="https://e.com" onclick="steal()">x</a>',
        "<iframe src=https://e.com></iframe>",
        "<style>body{display:none}</style>",
        "[x](https://e.com 'title\" onmouseover=\"alert(1)')",
    ],
)
def test_nothing_active_survives(hostile):
    """What the browser would build from the output: only harmless tags, no handler, links to http(s) only (text
    that merely reads like HTML is escaped, and shown as text)."""
    parsed = Elements()
    parsed.feed(str(render(hostile)))
    for tag, attributes in parsed.found:
        assert tag in {"p", "a", "em", "strong", "code"}, (hostile, tag)
        for name, value in attributes:
            assert not name.startswith("on"), (hostile, name)
            if name == "href":
                assert value.startswith("https://"), (hostile, value)
    assert "tracker.example" not in str(render(hostile))


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))
