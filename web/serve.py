#!/usr/bin/env python3
"""Static file server for the autolabel page (stdlib only).

Serves the repository root on 127.0.0.1 with the cross-origin isolation headers
the page needs (COOP same-origin + COEP require-corp, so SharedArrayBuffer and
wasm threads are available) and correct MIME types for .wasm / .js / .mjs.

    python3 web/serve.py [PORT]        # default 8080; 0 picks a free port
    python3 web/serve.py --no-isolation # as any plain static server: no threads


Prints "serving http://127.0.0.1:PORT/" once it listens (the e2e test reads it).
"""

import argparse
import functools
import http.server
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".css": "text/css",
        ".html": "text/html; charset=utf-8",
        ".svg": "image/svg+xml",
    }

    def end_headers(self):
        if self.server.isolated:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        if self.path.split("?")[0].endswith("/web/sw.js"):
            # The service worker in web/ controls the page at the root (offline use).
            self.send_header("Service-Worker-Allowed", "/")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            super().log_message(fmt, *args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=8080, help="port (0: any free port)")
    parser.add_argument("--root", default=ROOT, help="directory to serve (default: the repo root)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="omit the COOP/COEP headers, as a plain static server does (the page then runs on one CPU thread)",
    )
    args = parser.parse_args()

    handler = functools.partial(Handler, directory=args.root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    server.quiet = args.quiet
    server.isolated = not args.no_isolation
    print(f"serving http://127.0.0.1:{server.server_address[1]}/ from {args.root}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
