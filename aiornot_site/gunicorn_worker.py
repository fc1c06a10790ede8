"""gunicorn's threaded worker, with time limits on slow clients.

gunicorn's gthread worker hands a connection to a thread as soon as its first bytes arrive; the
thread then blocks until the request's headers are complete, and the application blocks on the
body. A few clients that send half a request and stop (a "slowloris") hold every thread and the
server answers nobody. This worker gives each client socket:

- an idle limit: no single read or write waits longer than AIORNOT_CLIENT_IDLE_TIMEOUT seconds;
- a header limit: the request line and headers must arrive within AIORNOT_CLIENT_HEADER_TIMEOUT
  seconds of the first byte (a client that trickles a byte at a time is cut off too);
- a body limit: the body must arrive within AIORNOT_CLIENT_BODY_TIMEOUT seconds.

A client past a limit is disconnected (it sees the connection reset; Django sees an unreadable
body and the API answers 400 request_body_incomplete if anyone still listens). With these limits
and enough threads (scripts/run.sh: 16) a handful of slow clients cannot stop the server. On the
open internet, put a buffering reverse proxy in front as well (docs/deployment.md).

These settings are read from the environment by the web server, not by Django.
"""

from __future__ import annotations

import errno
import os
import socket
import time

from gunicorn.workers.gthread import TConn, ThreadWorker


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value else default


CLIENT_IDLE_TIMEOUT = _seconds("AIORNOT_CLIENT_IDLE_TIMEOUT", 10.0)
CLIENT_HEADER_TIMEOUT = _seconds("AIORNOT_CLIENT_HEADER_TIMEOUT", 10.0)
CLIENT_BODY_TIMEOUT = _seconds("AIORNOT_CLIENT_BODY_TIMEOUT", 120.0)


class TimeLimitedClientSocket(socket.socket):
    """A client connection whose blocking reads and writes are bounded in time."""

    idle_timeout = CLIENT_IDLE_TIMEOUT

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._blocking_wanted = False
        self.read_deadline: float | None = None

    @classmethod
    def adopt(cls, sock: socket.socket) -> "TimeLimitedClientSocket":
        """The same connection (same file descriptor) as a TimeLimitedClientSocket."""
        return cls(sock.family, sock.type, sock.proto, fileno=sock.detach())

    def setblocking(self, flag: bool) -> None:
        # gunicorn asks for blocking mode before it parses; blocking here means "with limits".
        self._blocking_wanted = bool(flag)
        if flag:
            super().settimeout(self.idle_timeout)
        else:
            super().setblocking(False)

    def read_within(self, seconds: float | None) -> None:
        """Every read from now on must finish within ``seconds`` (None: only the idle limit)."""
        self.read_deadline = time.monotonic() + seconds if seconds else None

    def _bound_read(self) -> None:
        if not self._blocking_wanted:
            return
        timeout = self.idle_timeout
        if self.read_deadline is not None:
            remaining = self.read_deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectionResetError(errno.ECONNRESET, "client too slow: request time limit reached")
            timeout = min(timeout, remaining)
        super().settimeout(timeout)

    def recv(self, bufsize, flags=0):
        self._bound_read()
        try:
            return super().recv(bufsize, flags)
        except TimeoutError:
            raise ConnectionResetError(errno.ECONNRESET, "client too slow: nothing received in time") from None

    def recv_into(self, buffer, nbytes=0, flags=0):
        self._bound_read()
        try:
            return super().recv_into(buffer, nbytes, flags)
        except TimeoutError:
            raise ConnectionResetError(errno.ECONNRESET, "client too slow: nothing received in time") from None

    def sendall(self, data, flags=0):
        try:
            return super().sendall(data, flags)
        except TimeoutError:
            raise BrokenPipeError(errno.EPIPE, "client too slow: it stopped reading the response") from None


class SlowClientSafeThreadWorker(ThreadWorker):
    """gthread with per-client time limits (see the module docstring)."""

    def accept(self, listener):
        """As gthread's accept, with the client socket wrapped in the time limits."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client_sock = TimeLimitedClientSocket.adopt(client_sock)
        client_sock.setblocking(True)
        self.enqueue_req(TConn(self.cfg, client_sock, client_addr, listener.getsockname()))

    def handle(self, conn):
        # The request head must arrive within the header limit from now (the thread starts when
        # the first bytes are there, or after gthread's short wait for them).
        if isinstance(conn.sock, TimeLimitedClientSocket):
            conn.sock.read_within(CLIENT_HEADER_TIMEOUT)
        return super().handle(conn)

    def handle_request(self, req, conn):
        # Headers are in: the body (read by the application, or drained after it) gets its own limit.
        if isinstance(conn.sock, TimeLimitedClientSocket):
            conn.sock.read_within(CLIENT_BODY_TIMEOUT)
        return super().handle_request(req, conn)
