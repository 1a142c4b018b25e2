"""A tiny website on 127.0.0.1 for sagas to test: the embedded stack's stand-in target."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGES = {
    "/": "<html><head><title>Acme</title></head>"
    "<body><h1>Welcome to Acme</h1><a href='/pricing'>Pricing</a></body></html>",
    "/pricing": "<html><body><h1>Pricing</h1><p>Plans start at $9</p><p>Free trial</p></body></html>",
    "/login": "<html><body><form><label>Email</label><button>Sign in</button></form></body></html>",
}
PROJECT = "acme-web"
# What every demo, benchmark and test asks of PAGES: each check can pass.
STORIES = (
    'As a visitor I open / and see "Welcome to Acme"',
    "As a buyer I open /pricing and see 'Plans' and 'Free trial'",
    'As a member I open /login and see "Sign in"',
)
# A check no page passes: the main job shows a failed test analysed and a change proposed for it.
UNMET_STORY = "As a buyer I open /pricing and see 'Enterprise plan'"


def demo_request(target_url: str, stories: tuple[str, ...] = STORIES) -> dict[str, object]:
    """The saga request a demo sends to the site at ``target_url``."""
    return {"project": PROJECT, "target_url": target_url, "user_stories": list(stories)}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path.split("?")[0])
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write((body or "<html><body><h1>Not found</h1></body></html>").encode())

    def log_message(self, format: str, *args: object) -> None:  # keep test and demo output clean
        pass


class DemoSite:
    """``with DemoSite() as site: site.url`` serves PAGES until the block ends."""

    def __init__(self, port: int = 0) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> DemoSite:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
