"""A tiny Alertmanager webhook receiver for the local stack: prints notifications.

One line per alert in each notification (status, alertname, severity, key,
summary) on stdout, and, with --out, the raw notification as one JSON line,
so a script or a test can assert on what Alertmanager delivered. Standard
library only; loopback by default.

    python3 deploy/local/webhook.py --port 9099 --out /tmp/notifications.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def describe(notification: dict) -> list[str]:
    """Readable lines, one per alert of an Alertmanager webhook payload (version 4)."""
    lines = []
    for a in notification.get("alerts", []):
        lab, ann = a.get("labels", {}), a.get("annotations", {})
        lines.append(f"[{a.get('status', '?'):8s}] {lab.get('alertname', '?')} severity={lab.get('severity', '-')}"
                     f" key={lab.get('key', '-')} receiver={notification.get('receiver', '?')}: "
                     f"{ann.get('summary', '')}")
    return lines


def make_handler(out_path: str | None):
    lock = threading.Lock()  # one notification's lines stay together

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                note = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            with lock:
                for line in describe(note):
                    print(line, flush=True)
                if out_path:
                    with open(out_path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(note, ensure_ascii=False) + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802  -- readiness probe for stack.sh
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.end_headers()
            self.wfile.write(b"ok\n")

        def log_message(self, *args) -> None:  # quiet: the notifications are the output
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9099)
    ap.add_argument("--out", help="also append every notification as one JSON line here")
    args = ap.parse_args(argv)
    server = ThreadingHTTPServer((args.addr, args.port), make_handler(args.out))
    print(f"webhook receiver on http://{args.addr}:{args.port}/hook", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
