"""A listing's description, written in Markdown by its creator, rendered safely: markdown-it-py (CommonMark, tables
and strikethrough) with raw HTML off, then nh3 keeps only the tags and attributes a description needs. Links open
with ``rel="nofollow noopener noreferrer"`` and only to http(s) and mailto; images are not shown (a creator's image
on Trendy's page could track its readers); headings start at level 3 under the listing's own."""

from __future__ import annotations

import re

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

TAGS = {
    "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)
_HEADING = re.compile(r"<(/?)h([1-6])>")


def render(text: str) -> SafeString:
    import nh3

    html = _md.render(text or "")
    # The description's headings sit under the page's h1 and h2.
    html = _HEADING.sub(lambda m: f"<{m[1]}h{min(int(m[2]) + 2, 6)}>", html)
    clean = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return mark_safe(clean)  # noqa: S308  # nosec B308, B703  # nh3 has cleaned it
