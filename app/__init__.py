"""Listing-moderation service.

Flow: ``models`` (the request) -> ``normalization`` (text views with offset maps) -> ``matching``
(lexicon automata) -> ``checks`` (findings with spans) -> ``policy`` (findings -> decision) ->
``engine`` (the snapshot of data that decided) -> front doors ``api`` and ``cli``.

Importing this package has no side effects: heavy state is built by ``app.engine.build_snapshot``.
"""

__version__ = "0.1.0"
