"""Command line: `python -m bmw_assets.replica serve|publish` (see `main`)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import urllib.request
from pathlib import Path

from bmw_assets.local_services import release_pid_file, write_pid_file
from bmw_assets.replica.corpus import REPLICA_SIZE
from bmw_assets.replica.server import (
    DEFAULT_PORT,
    PID_FILE_NAME,
    STATE_FILE_NAME,
    ReplicaServer,
)
from bmw_assets.stop_signals import interrupt_on_stop_signals


def main(argv: list[str] | None = None) -> int:
    """`serve [--port 8765] [--state-dir DIR] [--published N] [--seed S] [--size K]` runs the
    replica until interrupted; `publish N [--port 8765]` reveals N more articles on a running one."""
    parser = argparse.ArgumentParser(prog="python -m bmw_assets.replica", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the replica on 127.0.0.1")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--state-dir", type=Path, default=None, help="keeps the published count across restarts")
    serve.add_argument("--published", type=int, default=None, help="how many of the oldest articles are visible")
    serve.add_argument("--seed", type=int, default=2026)
    serve.add_argument("--size", type=int, default=REPLICA_SIZE)
    publish = commands.add_parser("publish", help="reveal the next N articles on a running replica")
    publish.add_argument("n", type=int)
    publish.add_argument("--port", type=int, default=DEFAULT_PORT)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "publish":
        request = urllib.request.Request(f"http://127.0.0.1:{args.port}/_replica/publish?n={args.n}", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            print(json.dumps(json.load(response)))
        return 0
    interrupt_on_stop_signals()
    state_file = args.state_dir / STATE_FILE_NAME if args.state_dir else None
    server = ReplicaServer(
        port=args.port, published=args.published, state_file=state_file, seed=args.seed, size=args.size
    ).start()
    pid_file = args.state_dir / PID_FILE_NAME if args.state_dir else None
    try:  # a stop signal may come as soon as the pid file exists
        if pid_file:
            # Lets whoever started this detached process stop exactly it (bmw_assets.local_services).
            write_pid_file(pid_file, os.getpid())
        logging.info(
            "PressClub replica serving at %s (%d of %d articles published)",
            server.base_url,
            server.published_count,
            len(server.state.corpus),
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if pid_file:
            release_pid_file(pid_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
