from django import template
from django.utils.safestring import SafeString

from marketplace.markdown import render

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """A creator's Markdown, rendered and cleaned (``marketplace.markdown``)."""
    return render(text)
