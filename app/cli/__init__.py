"""The ``moderate`` command line: ``serve``, ``check``, ``batch``, ``policy`` and ``reload``.

The commands run the same :class:`app.engine.Engine` as the HTTP API. Importing this package is
cheap: the engine (lexicons, automata) is built inside the commands that need it.
"""
