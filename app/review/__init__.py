"""Review: the JSON routes (queue, verdicts, appeals, replay, seller points, API keys) and the
server-rendered review UI. :func:`install` wires them and the store into an app."""

from __future__ import annotations

from app.store.db import Store


def install(app, settings) -> None:
    """Attach the store (``app.state.store``; made ready at start-up, or on first use) and the routes."""
    from app.review.api import router
    from app.review.ui import install_ui

    app.state.store = Store(settings.db_url)
    app.include_router(router)
    install_ui(app)


async def startup(app) -> None:
    """Run the migrations (``alembic upgrade head``) before the first request is served."""
    import anyio

    await anyio.to_thread.run_sync(app.state.store.ready)
