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


def html_to_text(src: str, strip_tags: bool) -> tuple[str, list[int], list[int], list[int]] | None:
    """Decode entities (and, if ``strip_tags``, remove markup) from ``src``.

    Returns ``(text, starts, ends, changed)``: one original ``[start, end)`` range per output
    character, and the output positions that are not a verbatim copy (decoded entities, tags).
    ``None`` when ``src`` contains nothing to decode (the caller keeps the identity map)."""
    if "&" not in src and (not strip_tags or "<" not in src):
        return None
    parts: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    changed: list[int] = []
    pos = 0
    n_out = 0
    for m in _MARKUP.finditer(src):
        token = m.group(0)
        if token[0] == "<" and not strip_tags:
            continue
        if token[0] == "&":
            decoded = html.unescape(token)
            if decoded == token:
                continue  # not a known reference: keep it as typed
        else:
            decoded = "\n" if _BLOCK_TAG.match(token) else " "
        if m.start() > pos:  # verbatim text before the markup
            parts.append(src[pos:m.start()])
            starts.extend(range(pos, m.start()))
            ends.extend(range(pos + 1, m.start() + 1))
            n_out += m.start() - pos
        parts.append(decoded)
        starts.extend([m.start()] * len(decoded))
        ends.extend([m.end()] * len(decoded))
        changed.extend(range(n_out, n_out + len(decoded)))
        n_out += len(decoded)
        pos = m.end()
    if not changed:
        return None
    if pos < len(src):
        parts.append(src[pos:])
        starts.extend(range(pos, len(src)))
        ends.extend(range(pos + 1, len(src) + 1))
    return "".join(parts), starts, ends, changed
