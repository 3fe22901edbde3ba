"""The dashboard's web app (aiohttp): a page, its static assets, a JSON API and server-sent events.

Safe by default:
- read-only: GET and HEAD only, and nothing writes;
- the assets are a fixed table of the package's files, and runs are looked up by id, so no request text
  ever becomes a path;
- with a token, every request must carry it (Authorization: Bearer, the X-Raybench-Token header, the
  ?token= query of the first page load, or the cookie that load sets); without one, only a Host header
  naming the loopback interface is served, so a web page cannot reach the dashboard by DNS rebinding.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import sys
import time
from collections.abc import Callable
from importlib import resources
from typing import Any, Optional

from aiohttp import web

from raybench.dashboard._runs import Registry

POLL_S = 0.5
PING_S = 15.0
COOKIE = "raybench_dashboard"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

_STATIC = {  # URL name -> (package file, content type)
    "app.js": ("app.js", "text/javascript"),
    "charts.js": ("charts.js", "text/javascript"),
    "app.css": ("app.css", "text/css"),
    "uPlot.iife.min.js": ("uPlot.iife.min.js", "text/javascript"),
    "uPlot.min.css": ("uPlot.min.css", "text/css"),
    "uPlot.LICENSE": ("uPlot.LICENSE", "text/plain"),
}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

REGISTRY = web.AppKey("registry", Registry)
TOKEN = web.AppKey("token", str)
TICK = web.AppKey("tick", asyncio.Condition)


def _clean(x: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    return str(x)


def dumps(x: Any) -> str:
    return json.dumps(_clean(x), separators=(",", ":"), allow_nan=False)


def _asset(name: str) -> bytes:
    return resources.files("raybench.dashboard").joinpath("static", name).read_bytes()


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD"):
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"], text="the dashboard is read-only\n")
    token = request.app[TOKEN]
    set_cookie = False
    if token:
        auth = request.headers.get("Authorization", "")
        given = [auth[7:] if auth.startswith("Bearer ") else "", request.headers.get("X-Raybench-Token", ""),
                 request.query.get("token", ""), request.cookies.get(COOKIE, "")]
        if not any(g and hmac.compare_digest(g.encode(), token.encode()) for g in given):
            raise web.HTTPUnauthorized(text="this dashboard needs its token: open the URL that "
                                            "`raybench dashboard` printed (it ends in ?token=...)\n")
        set_cookie = request.query.get("token") is not None
    elif _host_name(request.host) not in LOOPBACK_NAMES:
        raise web.HTTPForbidden(text="without --token the dashboard answers only requests to 127.0.0.1 or localhost\n")
    resp = await handler(request)
    resp.headers["Content-Security-Policy"] = _CSP
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers.setdefault("Cache-Control", "no-store")
    if set_cookie:
        resp.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
    return resp


async def _index(request: web.Request) -> web.Response:
    return web.Response(body=_asset("index.html"), content_type="text/html", charset="utf-8")


async def _static(request: web.Request) -> web.Response:
    entry = _STATIC.get(request.match_info["name"])
    if entry is None:
        raise web.HTTPNotFound(text="no such asset\n")
    resp = web.Response(body=_asset(entry[0]), content_type=entry[1])
    resp.headers["Cache-Control"] = "no-cache"
    return resp


def _json(text: str) -> web.Response:
    return web.Response(text=text, content_type="application/json")


async def _locked_json(reg: Registry, build: Callable[[], Any]) -> str:
    """build() under the registry's lock, as JSON, in a worker thread: a 10,000-trial snapshot takes a
    while, and the event loop keeps serving meanwhile."""
    def work() -> str:
        with reg.lock:
            value = build()
        return dumps(value)

    return await asyncio.to_thread(work)


def _run_or_404(request: web.Request, run_id: str) -> Any:
    run = request.app[REGISTRY].get(run_id)
    if run is None:
        raise web.HTTPNotFound(text=f"no run {run_id!r} under the dashboard's folder\n")
    return run


def _int(request: web.Request, name: str) -> Optional[int]:
    raw = request.query.get(name)
    try:
        return None if raw is None else int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer\n") from None


async def _runs(request: web.Request) -> web.Response:
    return _json(dumps(request.app[REGISTRY].run_list()))


async def _run(request: web.Request) -> web.Response:
    reg = request.app[REGISTRY]
    run = _run_or_404(request, request.query.get("id", ""))
    since, epoch = _int(request, "since") or 0, _int(request, "epoch")
    return _json(await _locked_json(reg, lambda: run.snapshot(since, epoch)))


async def _compare(request: web.Request) -> web.Response:
    reg = request.app[REGISTRY]
    runs = [_run_or_404(request, i) for i in request.query.getall("id", [])]
    return _json(await _locked_json(reg, lambda: {"runs": [{**r.summary(), "anytime": r.state.anytime_points()}
                                                           for r in runs]}))


def _delta(reg: Registry, run: Any, since: int, epoch: Optional[int]) -> tuple[str, int, int]:
    """The run's snapshot since a version, as JSON, with the version and epoch the client has then seen."""
    with reg.lock:
        snap = run.snapshot(since, epoch)
    return dumps(snap), snap["version"], snap["epoch"]


async def _stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: `runs` when the run list changed, `run` with the trials changed since the
    client's version when the run it follows changed. A comment every PING_S keeps proxies awake."""
    reg, tick = request.app[REGISTRY], request.app[TICK]
    run_id = request.query.get("id")
    run = _run_or_404(request, run_id) if run_id else None
    since, epoch = _int(request, "since") or 0, _int(request, "epoch")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await resp.prepare(request)
    seen_list, seen_run = -1, (-1, -1)
    try:
        while True:
            if reg.version != seen_list:
                seen_list = reg.version
                await resp.write(f"event: runs\ndata: {dumps(reg.run_list())}\n\n".encode())
            if run is not None and (run.epoch, run.version) != seen_run:
                seen_run = (run.epoch, run.version)
                text, since, epoch = await asyncio.to_thread(_delta, reg, run, since, epoch)
                await resp.write(f"event: run\ndata: {text}\n\n".encode())
            async with tick:
                try:
                    await asyncio.wait_for(tick.wait(), PING_S)
                except asyncio.TimeoutError:
                    await resp.write(b": ping\n\n")
    except ConnectionResetError:
        pass  # the page went away
    return resp


async def _poller(app: web.Application) -> Any:
    reg, tick = app[REGISTRY], app[TICK]

    async def loop() -> None:
        while True:
            started = time.monotonic()
            try:
                changed = await asyncio.to_thread(reg.poll)
            except Exception as e:  # noqa: BLE001 - the view must outlive one bad poll; say so and go on
                print(f"raybench dashboard: reading the logs failed: {type(e).__name__}: {e}", file=sys.stderr)
                changed = False
            if changed:
                async with tick:
                    tick.notify_all()
            await asyncio.sleep(max(POLL_S - (time.monotonic() - started), 0.05))

    await asyncio.to_thread(reg.poll)  # the runs are known before the first request is answered
    task = asyncio.create_task(loop())
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


def make_app(registry: Registry, *, token: str = "") -> web.Application:
    """The dashboard over `registry`; with a token, every request must carry it."""
    app = web.Application(middlewares=[_guard])
    app[REGISTRY] = registry
    app[TOKEN] = token
    app[TICK] = asyncio.Condition()
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/api/runs", _runs)
    app.router.add_get("/api/run", _run)
    app.router.add_get("/api/compare", _compare)
    app.router.add_get("/api/stream", _stream)
    app.cleanup_ctx.append(_poller)
    return app
