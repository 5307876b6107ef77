from django import template
from django.utils.safestring import SafeString

from marketplace.markdown import render
from marketplace.selectors import display_name

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    """A creator's Markdown, rendered and cleaned (``marketplace.markdown``)."""
    return render(text)


@register.filter
def trader(user: object) -> str:
    """A trader as others see them (``marketplace.selectors.display_name``)."""
    return display_name(user)
