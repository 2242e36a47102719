"""Listening ports that belong to one process: taken exclusively, or refused in one line.

A port another program already listens on must be an error, not a shared port. Sockets that set
SO_REUSEPORT (py-libp2p's TCP listener does) share a port on Linux with any later socket of the same user
that sets it too, and the kernel then splits new connections between them at random. A socket without
SO_REUSEPORT cannot bind a port that anyone listens on, so binding one first tells whether it is free.
"""

from __future__ import annotations

import errno
import socket

from park.core.errors import InvalidError, PortInUseError


def listen_exclusively(host: str, port: int, *, what: str, hint: str = "") -> socket.socket:
    """A listening, non-blocking socket on (host, port) that no other process shares; port 0 picks one.

    `what` names the port in the error ("API port"), `hint` says what to do instead.
    """
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        # SO_REUSEADDR only lets a restart bind past connections in TIME_WAIT, never beside a listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        tail = f"; {hint}" if hint else ""
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"{what} {host}:{port} is already in use (another `park up`?){tail}"
            ) from exc
        raise InvalidError(f"cannot listen on {host}:{port} for the {what}: {exc.strerror}{tail}") from exc
    return sock


def ensure_free(host: str, port: int, *, what: str, hint: str = "") -> None:
    """Refuse a port that another program listens on, before a library that shares ports listens on it.

    Port 0 needs no check: the kernel picks one nobody uses.
    """
    if port != 0:
        listen_exclusively(host, port, what=what, hint=hint).close()
