"""Serve the API with N worker processes: `python -m gql.serve --workers 2 [--host H] [--port P]`.

Why not `uvicorn gql.app:app --workers 2`: uvicorn's multiprocess supervisor binds the listening
socket itself with `proto` left at 0 (uvicorn 0.54, issue 3149). Accepted sockets inherit it, and
asyncio turns Nagle's algorithm off (TCP_NODELAY) only on sockets whose proto is IPPROTO_TCP; so
every keep-alive request after the first waited for the client's delayed ACK: +40 ms per request
at one connection (bench/compare.py, W1 c=1: p50 84 ms with 2 workers against 41 ms with one).
Here the socket is bound with proto=IPPROTO_TCP and handed to the same supervisor, so each worker
process accepts from it (the kernel spreads connections across them) with TCP_NODELAY on.

With `--workers 1` (the default) this is plain `uvicorn.Server` over host and port, which already
sets TCP_NODELAY. The other settings come from the environment as for `uvicorn gql.app:app`
(DATABASE_URL, DANGJIAN_*, see README).
"""
from __future__ import annotations

import argparse
import logging
import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "gql.app:app"
log = logging.getLogger("uvicorn.error")


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP listening socket whose accepted connections asyncio sets TCP_NODELAY on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gql.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    config = uvicorn.Config(APP, host=args.host, port=args.port, workers=args.workers,
                            access_log=not args.no_access_log)
    if args.workers == 1:
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else 3
    sock = listening_socket(args.host, args.port)
    log.info("dangjian: %d workers on http://%s:%d (TCP_NODELAY)", args.workers, args.host, sock.getsockname()[1])
    Multiprocess(config, sockets=[sock]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
