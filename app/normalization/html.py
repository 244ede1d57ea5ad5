"""HTML to text with an offset map.

Tags become a single space (so words on either side stay apart), ``<script>``/``<style>`` bodies and
comments are dropped, and character references are decoded with :func:`html.unescape`. Every output
character carries the ``[start, end)`` range of the original markup it came from.
"""

from __future__ import annotations

import html
import re

_MARKUP = re.compile(
    r"<!--.*?-->"                                   # comment
    r"|<(script|style)\b[^>]*>.*?</\1\s*>"          # script/style with body
    r"|</?[A-Za-z][^<>]*>"                          # tag
    r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?",  # character reference
    re.DOTALL | re.IGNORECASE,
)
_BLOCK_TAG = re.compile(r"</?(br|p|div|li|ul|ol|tr|td|th|table|h[1-6])\b", re.IGNORECASE)


def html_to_text(src: str, strip_tags: bool) -> tuple[str, list[int], list[int]] | None:
    """Decode entities (and, if ``strip_tags``, remove markup) from ``src``.

    Returns ``(text, starts, ends)`` with one original range per output character, or ``None``
    when ``src`` contains nothing to decode (the caller keeps the identity map)."""
    if "&" not in src and (not strip_tags or "<" not in src):
        return None
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    pos = 0
    for m in _MARKUP.finditer(src):
        token = m.group(0)
        if token[0] == "<" and not strip_tags:
            continue
        for i in range(pos, m.start()):
            out.append(src[i])
            starts.append(i)
            ends.append(i + 1)
        if token[0] == "&":
            decoded = html.unescape(token)
            if decoded == token:  # not a known reference: keep as typed
                for i in range(m.start(), m.end()):
                    out.append(src[i])
                    starts.append(i)
                    ends.append(i + 1)
            else:
                for ch in decoded:
                    out.append(ch)
                    starts.append(m.start())
                    ends.append(m.end())
        else:
            out.append("\n" if _BLOCK_TAG.match(token) else " ")
            starts.append(m.start())
            ends.append(m.end())
        pos = m.end()
    for i in range(pos, len(src)):
        out.append(src[i])
        starts.append(i)
        ends.append(i + 1)
    return "".join(out), starts, ends
