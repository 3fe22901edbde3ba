"""Helpers for the dashboard tests: a dashboard served from a thread, on a free port of 127.0.0.1. (Not a
conftest.py: test modules import it by name, and another folder's conftest would shadow that name.)"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web

from raybench.dashboard import Registry
from raybench.dashboard._server import make_app


@contextmanager
def served(root: Path, *, token: str = "") -> Iterator[str]:
    """The dashboard of root at the URL yielded, until the block ends."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(Registry(root), token=token), shutdown_timeout=0.5)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
