"""Serves camera_page.html on the guest's loopback and saves what the page sends back.

A page on http://127.0.0.1 is a secure context, so getUserMedia works as on a real site. The
page POSTs one JSON result; its frames are written as NNN.png and the rest as result.json in
OUT_DIR, and the server exits. Standard library only: it runs with whatever python3 the guest
borrows from the host.

    python3 page_server.py PAGE OUT_DIR PORT TIMEOUT_S
"""
from __future__ import annotations

import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def main() -> int:
    page, out_dir, port, timeout_s = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    out_dir.mkdir(parents=True, exist_ok=True)
    received = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/", "/index.html"):
                self.send_error(404)
                return
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            result = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            result["frames"] = frames = result.get("frames", [])
            for i, frame in enumerate(frames):
                name = f"{i:03d}.rgba"
                (out_dir / name).write_bytes(base64.b64decode(frame.pop("rgba")))
                frame["file"] = name
            (out_dir / "result.json").write_text(json.dumps(result, indent=1))
            self.send_response(204)
            self.end_headers()
            received.set()

        def log_message(self, fmt: str, *args) -> None:
            print("page_server:", fmt % args, flush=True)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"page_server: serving {page.name} on 127.0.0.1:{port}", flush=True)
    ok = received.wait(timeout_s)
    server.shutdown()
    if not ok:
        print(f"page_server: no result from the page within {timeout_s:.0f} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
