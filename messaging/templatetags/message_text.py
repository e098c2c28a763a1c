"""`{{ message.text|linkify }}`: a message's text, escaped, with its web addresses as links.

Only http:// and https:// addresses become links; nothing else in a message is interpreted
(no markup, no bare domains, no other schemes). Each piece is escaped on its own, so neither
the text around an address nor the address itself can open markup.
"""

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# An address runs to the next space, quote or angle bracket.
_ADDRESS = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
# Punctuation that ends a sentence rather than the address: "see https://x.org/a."
_TRAILING = ".,;:!?'\""


def _split_trailing(address: str) -> tuple[str, str]:
    end = len(address)
    while (
        end
        and address[end - 1] in _TRAILING
        or (end and address[end - 1] == ")" and address[:end].count("(") < address[:end].count(")"))
    ):
        end -= 1
    return address[:end], address[end:]


@register.filter(is_safe=True)
def linkify(text: str) -> SafeString:
    if "://" not in text:  # most messages: no address to look for
        return escape(text)
    pieces, position = [], 0
    for found in _ADDRESS.finditer(text):
        address, _ = _split_trailing(found.group())  # the rest stays in the text
        if address.endswith("://"):
            continue  # nothing after the scheme
        address_html = escape(address)
        pieces += [
            escape(text[position : found.start()]),
            f'<a href="{address_html}" rel="noopener noreferrer nofollow" target="_blank">'
            f"{address_html}</a>",
        ]
        position = found.start() + len(address)
    pieces.append(escape(text[position:]))
    return mark_safe("".join(pieces))  # noqa: S308  (every piece of text escaped)
