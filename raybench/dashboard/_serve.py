"""`raybench dashboard`: check the options, then serve until Ctrl-C."""

from __future__ import annotations

import errno
import ipaddress
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from raybench.errors import UserError

TOKEN_ENV = "RAYBENCH_DASHBOARD_TOKEN"
MIN_TOKEN_CHARS = 8
SHUTDOWN_S = 1.0  # open event streams never end by themselves; Ctrl-C closes them after this


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_options(path: str, *, host: str, port: int, token: Optional[str]) -> tuple[Path, str]:
    """The folder to serve and the token ("" for none); a one-line UserError for anything wrong."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{path}: no such folder; pass a run directory or a folder of runs")
    if not p.is_dir():
        raise UserError(f"{path}: not a folder; pass the run directory (or a folder of runs), not a file")
    if not 0 < port < 65536:
        raise UserError(f"--port must be between 1 and 65535, got {port}")
    if not host.strip():
        raise UserError("--host is empty; pass an address such as 127.0.0.1")
    token = token if token is not None else os.environ.get(TOKEN_ENV, "")
    if token and (len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token)):
        raise UserError(f"the token must be at least {MIN_TOKEN_CHARS} characters without spaces")
    if not is_loopback(host) and not token:
        raise UserError(f"--host {host} serves the dashboard beyond this machine; pass --token T "
                        f"(or set {TOKEN_ENV}) so that every request must carry it")
    return p.resolve(), token


def serve(path: str, *, host: str = "127.0.0.1", port: int = 8266, token: Optional[str] = None,
          say: Callable[[str], None] = print) -> None:
    """Serve the dashboard of the runs under path until interrupted."""
    root, token = check_options(path, host=host, port=port, token=token)
    from aiohttp import web

    from raybench.dashboard._runs import Registry
    from raybench.dashboard._server import make_app

    app = make_app(Registry(root), token=token)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    say(f"raybench dashboard of {root} at {url}  (read-only; Ctrl-C to stop)")
    sys.stdout.flush()
    try:
        web.run_app(app, host=host, port=port, print=None, access_log=None, shutdown_timeout=SHUTDOWN_S)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"port {port} on {host} is in use; pass another --port") from e
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
