"""``ponder serve``: an OpenAI-compatible HTTP server with per-request thinking budgets.

Import ``create_app`` from ``ponder.server.app``; this package itself imports no web framework,
so ``ponder --help`` stays fast and works without the ``serve`` extra.
"""

from .settings import ServerSettings

__all__ = ["ServerSettings"]
