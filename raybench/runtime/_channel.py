"""The report channel: trial actors' reports reach the scheduler over a plain TCP connection, not a Ray call.

On the 2-core development machine a Ray actor call costs about 1 ms of CPU in the actor and 1.3 ms in the
caller, and one actor answers at most about 800 calls a second; a length-prefixed pickle over a socket costs
about 45 us on each side (BENCHMARKS.md, Scale). Reports are most of a run's calls, so they take the socket;
everything rare (hand-outs after an error, trial errors, status, the end) stays on Ray. Each node's energy
actor serves its trial actors' track and untrack calls the same way (runtime/_energy_node.EnergyLink).

The scheduler serves every trial actor's connection from one thread, and every call it answers takes the
scheduler's lock (`serialized`), so that decisions stay one at a time, as Ray's single-threaded actor makes
them. The connection is opened with a secret that the worker got through a Ray call (Ray's own
authentication guards it): a peer that does not send it first is closed before anything it sends is read as
a pickle. Where the socket cannot be reached (a firewall between nodes), the worker says so once and reports
through Ray calls.
"""

from __future__ import annotations

import functools
import hmac
import pickle
import secrets
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any, Optional

_HEADER = struct.Struct("<I")
_MAX_FRAME = 1 << 31  # a checkpoint may be large, but not past the header's range
REPORT_CALLS = frozenset({"report_many"})  # what a connection to the scheduler may call
CONNECT_TIMEOUT_S = 5.0


class ChannelClosed(ConnectionError):
    """The scheduler's end of the channel went away (the scheduler died or the run ended)."""


def serialized(cls: type) -> type:
    """`cls` with every public method taking `self._lock` (an RLock made on first use), so that the channel's
    threads and Ray's calls never run scheduler code at the same time."""

    def locked(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def call(self, *args, **kwargs):
            with self.__dict__.get("_lock") or _make_lock(self):
                return fn(self, *args, **kwargs)
        return call

    for name in dir(cls):
        fn = getattr(cls, name)
        if not name.startswith("_") and callable(fn) and not isinstance(fn, type):
            setattr(cls, name, locked(fn))
    return cls


_lock_of_locks = threading.Lock()


def _make_lock(obj: Any) -> threading.RLock:
    with _lock_of_locks:
        return obj.__dict__.setdefault("_lock", threading.RLock())


def node_ip() -> str:
    """This node's address as Ray knows it (where a channel listens), or loopback outside Ray."""
    try:
        import ray

        return ray.util.get_node_ip_address() if ray.is_initialized() else "127.0.0.1"
    except Exception:
        return "127.0.0.1"


# ---- frames ------------------------------------------------------------------------------------------------


def _send(sock: socket.socket, payload: bytes) -> None:
    if len(payload) < 65536:
        sock.sendall(_HEADER.pack(len(payload)) + payload)
    else:  # a large one (a checkpoint) is not copied into one buffer with its header
        sock.sendall(_HEADER.pack(len(payload)))
        sock.sendall(payload)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ChannelClosed("the connection was closed")
        got += k
    return bytes(buf)


def _recv(sock: socket.socket, limit: int = _MAX_FRAME) -> bytes:
    (n,) = _HEADER.unpack(_recv_exact(sock, _HEADER.size))
    if n > limit:
        raise ChannelClosed(f"a frame of {n} bytes is over the limit of {limit}")
    return _recv_exact(sock, n)


# ---- the scheduler's end -------------------------------------------------------------------------------------


class _Conn:
    __slots__ = ("sock", "inbuf", "out", "authed", "since", "waiting")

    def __init__(self, sock: socket.socket, now: float) -> None:
        self.sock, self.inbuf, self.out, self.authed, self.since = sock, bytearray(), b"", False, now
        self.waiting = False  # registered for EVENT_WRITE: `out` holds what the socket did not take


class ReportServer:
    """Accepts trial actors' connections on `host` and answers their calls with `target`'s methods.

    One thread serves every connection through a selector: under load many reports are waiting at once and
    are answered in one wake-up, where a thread per connection would hand the GIL around for each.
    """

    def __init__(self, target: Any, host: str, calls: frozenset[str] = REPORT_CALLS) -> None:
        self.target = target
        self._calls = frozenset(calls)  # the only methods of target a connection may call
        self.secret = secrets.token_bytes(32)
        self._sock = socket.create_server((host, 0), backlog=256)
        self._sock.setblocking(False)
        self.address = (host, self._sock.getsockname()[1])
        self.connections = 0  # accepted, the refused included
        self.calls = 0  # answered
        self._closed = False
        self._next_expiry = 0.0
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._sock, selectors.EVENT_READ, None)
        threading.Thread(target=self._loop, name="raybench-report-channel", daemon=True).start()

    def _loop(self) -> None:
        try:
            self._serve()
        finally:  # closed: the workers' waiting calls fail at once instead of waiting for an answer
            for key in list(self._sel.get_map().values()):
                key.fileobj.close()
            self._sel.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                ready = self._sel.select(timeout=1.0)
            except (OSError, ValueError):
                return  # closed under us
            for key, mask in ready:
                if key.data is None:
                    self._accept()
                    continue
                c = key.data
                try:
                    if mask & selectors.EVENT_WRITE:
                        self._flush(c)
                    if mask & selectors.EVENT_READ:
                        self._read(c)
                except Exception:
                    self._drop(c)  # the worker went away, or sent what is not a call
            self._expire()

    def _accept(self) -> None:
        try:
            sock, _ = self._sock.accept()
        except (BlockingIOError, OSError):
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connections += 1
        self._sel.register(sock, selectors.EVENT_READ, _Conn(sock, time.monotonic()))

    def _read(self, c: _Conn) -> None:
        data = c.sock.recv(1 << 20)
        if not data:
            raise ChannelClosed("closed by the worker")
        c.inbuf += data
        while len(c.inbuf) >= _HEADER.size:
            (n,) = _HEADER.unpack_from(c.inbuf)
            if not c.authed and n > 64:
                raise ChannelClosed("a first frame too long to be the secret")
            if len(c.inbuf) < _HEADER.size + n:
                return
            frame = bytes(c.inbuf[_HEADER.size:_HEADER.size + n])
            del c.inbuf[:_HEADER.size + n]
            if not c.authed:
                if not hmac.compare_digest(frame, self.secret):
                    raise ChannelClosed("a wrong secret")
                c.authed = True
                continue
            self._reply(c, self._answer(frame))

    def _answer(self, frame: bytes) -> bytes:
        name, args, *kw = pickle.loads(frame)  # (name, args) or (name, args, kwargs)
        try:
            if name not in self._calls:
                raise AttributeError(f"the report channel has no call {name!r}")
            reply = (True, getattr(self.target, name)(*args, **(kw[0] if kw else {})))
        except Exception as exc:  # the caller raises it, as a Ray call would
            reply = (False, exc)
        try:
            return pickle.dumps(reply, protocol=5)
        except Exception as exc:
            return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")), protocol=5)

    def _reply(self, c: _Conn, data: bytes) -> None:
        self.calls += 1
        c.out = c.out + _HEADER.pack(len(data)) + data if c.out else _HEADER.pack(len(data)) + data
        self._flush(c)

    def _flush(self, c: _Conn) -> None:
        """Send what the connection owes; what the socket does not take now waits for it to be writable."""
        try:
            sent = c.sock.send(c.out) if c.out else 0
        except BlockingIOError:
            sent = 0
        c.out = c.out[sent:]
        if bool(c.out) != c.waiting:  # a system call only when the interest in writing changes
            c.waiting = bool(c.out)
            self._sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.waiting else 0), c)

    def _expire(self) -> None:
        """Close connections that did not send the secret within CONNECT_TIMEOUT_S (looked at once a second,
        not at every wake-up: under load there are hundreds of those a second)."""
        now = time.monotonic()
        if now < self._next_expiry:
            return
        self._next_expiry = now + 1.0
        for key in list(self._sel.get_map().values()):
            c = key.data
            if c is not None and not c.authed and now - c.since > CONNECT_TIMEOUT_S:
                self._drop(c)

    def _drop(self, c: _Conn) -> None:
        try:
            self._sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def close(self) -> None:
        """Stop listening; the serving thread ends within a second, and open connections with it."""
        self._closed = True
        try:
            self._sock.close()
        except OSError:
            pass


# ---- the trial actor's end -----------------------------------------------------------------------------------


class ReportClient:
    """One trial actor's connection to its scheduler."""

    def __init__(self, address: tuple[str, int], secret: bytes, timeout_s: float = CONNECT_TIMEOUT_S,
                 answer_timeout_s: Optional[float] = None) -> None:
        self._sock = socket.create_connection(tuple(address), timeout=timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _send(self._sock, secret)
        # None: an answer waits for the scheduler, as a Ray call would; else a late answer closes the channel
        self._sock.settimeout(answer_timeout_s)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            _send(self._sock, pickle.dumps((name, args, kwargs) if kwargs else (name, args), protocol=5))
            ok, value = pickle.loads(_recv(self._sock))
        except ChannelClosed:
            self.close()
            raise
        except OSError as e:
            self.close()
            raise ChannelClosed(f"the report channel failed: {e}") from e
        if not ok:
            raise value
        return value

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


def connect(offer: Optional[tuple], answer_timeout_s: Optional[float] = None
            ) -> tuple[Optional[ReportClient], Optional[str]]:
    """A client for a `channel()` offer (host, port, secret) of the scheduler or an energy actor, or
    (None, why not)."""
    if offer is None:
        return None, None
    host, port, secret = offer
    try:
        return ReportClient((host, port), secret, answer_timeout_s=answer_timeout_s), None
    except OSError as e:
        return None, f"{host}:{port}: {e.strerror or e}"
