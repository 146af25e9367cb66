"""The web application of `mgdsl serve` (Starlette): the pages, the JSON API, the downloads and the
live updates of /work/SERVE-API.md's contract, over `data.Workspace`.

Every request first passes `Guard`: the Host header must name this server (no DNS rebinding), the
token must come with it (the `?token=` of the printed address once, then the HttpOnly, SameSite=Strict
cookie it sets), only GET is served (and POST to /api/preview, and to /api/save with --allow-writes),
and a body may hold at most 256 KiB. Spec work runs in the thread pool, so one slow spec does not hold
up the others or the live updates. A file watcher (watchfiles) on the root sends an `event: change` on
/api/events for every .mg file saved, with the specs whose results read it.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import watchfiles
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..atomic import write_atomic
from .data import DOWNLOADS, NeedsExtra, NotLowered, Workspace
from .security import COOKIE, MAX_BODY, Refused, allowed_hosts, inside, rel_path, same_token

STATIC = Path(__file__).parent / "static"
PAGES = {"/": "index.html", "/compare": "compare.html"}           # and /spec/<path>: spec.html
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"
DEBOUNCE_MS = 50
KEEPALIVE_S = 15.0
IMMUTABLE = "public, max-age=31536000, immutable"


def _json_bytes(content) -> bytes:
    """UTF-8 JSON; a file name that is not UTF-8 keeps its bytes as \\u escapes instead of failing."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


class JSON(JSONResponse):
    def render(self, content) -> bytes:
        return _json_bytes(content)


def _sets(params, prefix: str = "set.") -> dict[str, str]:
    """`set.NAME=VALUE` query items -> {NAME: VALUE} (the last of a repeated name wins)."""
    return {k[len(prefix):]: v for k, v in params if k.startswith(prefix)}


def _not_found(what: str) -> JSON:
    return JSON({"error": f"no spec {what!r} under the folder being served"}, status_code=404)


# -- the guard --------------------------------------------------------------------------------------------
class Guard:
    """Host, token, method and body size, checked before any route sees a request (pure ASGI, so the
    SSE stream is not buffered)."""

    def __init__(self, app: ASGIApp, token: str, hosts: set[str], writes: bool):
        self.app, self.token, self.hosts, self.writes = app, token, hosts, writes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request = Request(scope)
        refusal = self._refusal(scope, headers, request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = dict(query).get("token")
        page = scope["path"] in PAGES or scope["path"].startswith("/spec/")
        if given is not None and page and scope["method"] in ("GET", "HEAD"):
            # the first page load: set the cookie and take the token out of the address bar and history
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303)
            self._cookie(response)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"cross-origin-resource-policy", b"same-origin")]
                if given is not None:
                    extra.append((b"set-cookie", self._cookie_header().encode("latin-1")))
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)
        await self.app(scope, receive, send_with_headers)

    def _refusal(self, scope: Scope, headers: dict[str, str], request: Request) -> Response | None:
        if headers.get("host") not in self.hosts:
            return PlainTextResponse("mgdsl serve: this server answers only to its own address (Host header refused)",
                                     status_code=403)
        origin = headers.get("origin")
        if origin is not None and origin.removeprefix("http://") not in self.hosts:
            return PlainTextResponse("mgdsl serve: requests from other sites are refused", status_code=403)
        given = request.query_params.get("token")
        if not (same_token(given, self.token) or given is None and same_token(request.cookies.get(COOKIE), self.token)):
            return PlainTextResponse("mgdsl serve: open the address mgdsl serve printed (with its ?token=) first",
                                     status_code=403)
        method, path = scope["method"], scope["path"]
        posts = {"/api/preview"} | ({"/api/save"} if self.writes else set())
        if method not in ("GET", "HEAD") and not (method == "POST" and path in posts):
            return PlainTextResponse(f"mgdsl serve: {method} {path} is not served", status_code=405,
                                     headers={"Allow": "POST" if path in posts else "GET, HEAD"})
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return PlainTextResponse(f"mgdsl serve: request bodies are limited to {MAX_BODY // 1024} KiB", status_code=413)
        return None

    def _cookie_header(self) -> str:
        return f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"

    def _cookie(self, response: Response) -> None:
        response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")


async def _body(request: Request) -> bytes:
    """The request body, refused past MAX_BODY while it streams (a body sent without a length)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


class _TooLarge(Exception):
    pass


# -- live updates ---------------------------------------------------------------------------------------------
class Hub:
    """The open /api/events streams, each a queue of messages; None ends a stream."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False

    def subscribe(self) -> asyncio.Queue:
        self.loop = asyncio.get_running_loop()
        q: asyncio.Queue = asyncio.Queue()
        if self.closed:
            q.put_nowait(None)
        self.queues.add(q)
        return q

    def publish(self, message: dict | None) -> None:
        for q in list(self.queues):
            q.put_nowait(message)

    def close(self) -> None:
        """End every stream (the server is stopping: it waits for open responses to finish)."""
        self.closed = True
        self.publish(None)

    def close_soon(self) -> None:
        """`close`, from any thread or a signal handler."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.close)
        else:
            self.closed = True


async def _watch(ws: Workspace, hub: Hub, stop: asyncio.Event) -> None:
    def only_specs(change, path: str) -> bool:
        return path.endswith(".mg")
    async for changes in watchfiles.awatch(ws.root, watch_filter=only_specs, debounce=DEBOUNCE_MS, step=25,
                                           stop_event=stop, ignore_permission_denied=True):
        for rel in sorted({rel_path(p, ws.root) for _, p in changes if inside(os.path.abspath(p), ws.root)}):
            hub.publish({"path": rel, "affected": ws.dependents(rel)})
            await run_in_threadpool(ws.refresh, rel)     # the page's request then waits for this, not longer


# -- the application ---------------------------------------------------------------------------------------------
def create_app(root: str, paths: list[str] | None, *, token: str, host: str = "127.0.0.1", port: int,
               watch: bool = True, allow_writes: bool = False) -> Starlette:
    """The application serving the specs under `root` (the .mg files of `paths`, default the root)."""
    ws = Workspace(root, paths)
    hub = Hub()

    def page(name: str):
        async def endpoint(request: Request) -> Response:
            if name == "spec.html":
                try:
                    ws.locate(request.path_params["path"])
                except Refused:
                    return PlainTextResponse("mgdsl serve: no such spec under the folder being served", status_code=404)
            file = STATIC / name
            if not file.is_file():
                file = STATIC / "index.html"
            if not file.is_file():
                return PlainTextResponse("mgdsl serve: the page files are missing from this installation", status_code=500)
            return Response(file.read_bytes(), media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"})
        return endpoint

    async def specs(request: Request) -> Response:
        return JSON(await run_in_threadpool(ws.gallery), headers={"Cache-Control": "no-cache"})

    async def spec(request: Request) -> Response:
        rel = request.path_params["path"]
        try:
            data = await run_in_threadpool(ws.spec_json, rel, _sets(request.query_params.multi_items()))
        except Refused:
            return _not_found(rel)
        return JSON(data, headers={"Cache-Control": "no-cache"})

    async def preview(request: Request) -> Response:
        try:
            body = json.loads(await _body(request))
        except _TooLarge:
            return PlainTextResponse(f"mgdsl serve: request bodies are limited to {MAX_BODY // 1024} KiB", status_code=413)
        except (ValueError, UnicodeDecodeError):
            return JSON({"error": "the body must be JSON: {\"path\", \"text\", \"set\"}"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("path"), str) or not isinstance(body.get("text"), str) \
                or not isinstance(body.get("set", {}), dict) or not all(isinstance(v, str) for v in body.get("set", {}).values()):
            return JSON({"error": "the body must be {\"path\": str, \"text\": str, \"set\": {name: str}}"}, status_code=400)
        try:
            data = await run_in_threadpool(ws.spec_json, body["path"], body.get("set", {}), body["text"])
        except Refused:
            return _not_found(body["path"])
        return JSON(data, headers={"Cache-Control": "no-store"})

    async def save(request: Request) -> Response:
        try:
            body = json.loads(await _body(request))
        except _TooLarge:
            return PlainTextResponse(f"mgdsl serve: request bodies are limited to {MAX_BODY // 1024} KiB", status_code=413)
        except (ValueError, UnicodeDecodeError):
            return JSON({"error": "the body must be JSON: {\"path\", \"text\"}"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("path"), str) or not isinstance(body.get("text"), str):
            return JSON({"error": "the body must be {\"path\": str, \"text\": str}"}, status_code=400)
        try:
            real = ws.locate(body["path"])
        except Refused:
            return _not_found(body["path"])
        await run_in_threadpool(write_atomic, real, body["text"].encode("utf-8"))
        return JSON({"path": body["path"], "saved": True})

    async def thumb(request: Request) -> Response:
        rel = request.path_params["path"]
        try:
            svg, version = await run_in_threadpool(ws.thumb, rel, _sets(request.query_params.multi_items()))
        except Refused:
            return _not_found(rel)
        except NotLowered as e:
            return JSON({"error": "the spec has no diagram", "diagnostics": e.diagnostics}, status_code=422)
        cache = IMMUTABLE if request.query_params.get("v") == version else "no-cache"
        return Response(svg, media_type="image/svg+xml",
                        headers={"Cache-Control": cache, "ETag": f'"{version}"', "Content-Security-Policy": SVG_CSP})

    async def compare(request: Request) -> Response:
        q = request.query_params
        a, b = q.get("a"), q.get("b") or q.get("a")
        if a is None or b is None:
            return JSON({"error": "give ?a=PATH (and &b=PATH to compare two specs)"}, status_code=400)
        items = q.multi_items()
        try:
            data = await run_in_threadpool(ws.compare, a, _sets(items, "a.set."), b, _sets(items, "b.set."))
        except Refused as e:
            return _not_found(str(e))
        return JSON(data, headers={"Cache-Control": "no-cache"})

    async def download(request: Request) -> Response:
        whole = request.path_params["path"]
        rel, _, ext = whole.rpartition(".")
        if ext not in DOWNLOADS:
            return PlainTextResponse(f"mgdsl serve: downloads end in {', '.join('.' + e for e in DOWNLOADS)}",
                                     status_code=404)
        try:
            data, media, name = await run_in_threadpool(ws.download, rel, ext, _sets(request.query_params.multi_items()))
        except Refused:
            return _not_found(rel)
        except NotLowered as e:
            return JSON({"error": "the spec has errors", "diagnostics": e.diagnostics}, status_code=422)
        except NeedsExtra as e:
            return PlainTextResponse(f"mgdsl serve: {e}", status_code=501)
        headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-cache"}
        if ext == "svg":
            headers["Content-Security-Policy"] = SVG_CSP
        return Response(data, media_type=media, headers=headers)

    async def events(request: Request) -> Response:
        q = hub.subscribe()

        async def stream():
            try:
                yield "retry: 1000\n\n"
                while True:
                    try:
                        message = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if message is None:
                        return
                    yield f"event: change\ndata: {_json_bytes(message).decode('utf-8')}\n\n"
            finally:
                hub.queues.discard(q)
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        stop = asyncio.Event()
        task = asyncio.create_task(_watch(ws, hub, stop)) if watch else None
        warm = asyncio.create_task(run_in_threadpool(ws.gallery))    # the gallery is ready when it is first asked for
        try:
            yield
        finally:
            warm.cancel()
            stop.set()
            hub.close()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    routes = [Route("/", page("index.html")), Route("/spec/{path:path}", page("spec.html")),
              Route("/compare", page("compare.html")),
              Route("/api/specs", specs), Route("/api/spec/{path:path}", spec),
              Route("/api/preview", preview, methods=["POST"]), Route("/api/thumb/{path:path}", thumb),
              Route("/api/compare", compare), Route("/api/events", events),
              Route("/download/{path:path}", download),
              Mount("/static", StaticFiles(directory=STATIC, check_dir=False))]
    if allow_writes:
        routes.append(Route("/api/save", save, methods=["POST"]))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(Guard, token=token, hosts=allowed_hosts(host, port), writes=allow_writes)
    app.state.workspace, app.state.hub = ws, hub
    return app
