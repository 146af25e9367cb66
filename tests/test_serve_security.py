"""`mgdsl serve` answers only its own page and reads only its own folder: the token (query once, then
the cookie), the Host header, paths from URLs (`..`, absolute, backslashes, NUL, symbolic links out of
the root: 404), imports of files outside the root (a located error, the file never opened), the body
limit, the methods, and hostile specs (a located error, and the next request is served)."""
import builtins
import os
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("starlette.testclient")      # it needs httpx2 (or httpx)

from starlette.testclient import TestClient  # noqa: E402

from mgdsl.serve.app import create_app  # noqa: E402
from mgdsl.serve.security import MAX_BODY  # noqa: E402

TOKEN = "s" * 32
PORT = 8124
GOOD = 'network "T"\ninput 3 @ 8x8\nconv 4\nfc 2\n'
UNITS = "unit blk(c)\n  conv c\n"


@pytest.fixture
def tree(tmp_path):
    """root/ with a good spec, and outside/ beside it with a spec, a unit file and a base network."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "t.mg").write_text(GOOD, encoding="utf-8")
    (outside / "secret.mg").write_text(GOOD.replace('"T"', '"SECRET"'), encoding="utf-8")
    (outside / "units.mg").write_text(UNITS, encoding="utf-8")
    (root / "link.mg").symlink_to(outside / "secret.mg")
    (root / "ulink.mg").symlink_to(outside / "units.mg")
    return root, outside


def client(root, *, host="127.0.0.1", **options) -> TestClient:
    app = create_app(str(root), None, token=TOKEN, port=PORT, watch=False, **options)
    return TestClient(app, base_url=f"http://{host}:{PORT}")


def authed(root, **options) -> TestClient:
    c = client(root, **options)
    assert c.get(f"/?token={TOKEN}", follow_redirects=False).status_code == 303
    return c


@pytest.fixture
def opened(monkeypatch):
    """Every path opened while the test runs (os.open and open), as real paths."""
    seen: list[str] = []
    real_os_open, real_open = os.open, builtins.open

    def spy_os_open(path, *a, **k):
        seen.append(os.path.realpath(path))
        return real_os_open(path, *a, **k)

    def spy_open(file, *a, **k):
        if isinstance(file, (str, bytes, os.PathLike)):
            seen.append(os.path.realpath(file))
        return real_open(file, *a, **k)
    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(builtins, "open", spy_open)
    return seen


ENDPOINTS = ["/", "/spec/t.mg", "/compare?a=t.mg", "/api/specs", "/api/spec/t.mg", "/api/thumb/t.mg",
             "/api/compare?a=t.mg", "/api/events", "/download/t.mg.svg", "/static/index.html"]


# -- the token -------------------------------------------------------------------------------------------------
def test_no_token_or_a_wrong_one_is_403_everywhere(tree):
    root, _ = tree
    c = client(root)
    for url in ENDPOINTS:
        assert c.get(url).status_code == 403, url
        sep = "&" if "?" in url else "?"
        assert c.get(f"{url}{sep}token={'x' * 32}").status_code == 403, url
    assert c.post("/api/preview", json={"path": "t.mg", "text": GOOD}).status_code == 403
    c.cookies.set("mgdsl_token", "x" * 32)
    assert c.get("/api/specs").status_code == 403


def test_the_token_once_then_the_cookie(tree):
    root, _ = tree
    c = client(root)
    first = c.get(f"/spec/t.mg?set.n=2&token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/spec/t.mg?set.n=2"     # out of the address bar
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"mgdsl_token={TOKEN};") and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    r = c.get("/api/spec/t.mg")
    assert r.status_code == 200 and r.json()["ok"]
    assert r.headers["x-content-type-options"] == "nosniff"
    other = client(root)                             # an API call with the token in the query sets the cookie too
    assert other.get(f"/api/specs?token={TOKEN}").status_code == 200 and other.get("/api/specs").status_code == 200


def test_pages_carry_a_content_security_policy(tree):
    root, _ = tree
    c = authed(root)
    for url in ("/", "/spec/t.mg", "/compare?a=t.mg"):
        r = c.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), url
        assert "script-src 'self'" in r.headers["content-security-policy"] and "frame-ancestors 'none'" in \
            r.headers["content-security-policy"]
    svg = c.get("/download/t.mg.svg")
    assert svg.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"


# -- the Host header and the Origin --------------------------------------------------------------------------
def test_a_foreign_host_is_refused_even_with_the_token(tree):
    root, _ = tree
    for host in ("evil.example", "127.0.0.1:9999", "localhost.evil.example"):
        c = authed(root)
        r = c.get("/api/specs", headers={"host": host if ":" in host else f"{host}:{PORT}"})
        assert r.status_code == 403, host
    for host in ("localhost", "[::1]"):
        c = authed(root)
        assert c.get("/api/specs", headers={"host": f"{host}:{PORT}"}).status_code == 200, host
    c = authed(root)
    assert c.post("/api/preview", json={"path": "t.mg", "text": GOOD},
                  headers={"origin": "http://evil.example"}).status_code == 403
    assert c.post("/api/preview", json={"path": "t.mg", "text": GOOD},
                  headers={"origin": f"http://127.0.0.1:{PORT}"}).status_code == 200


# -- paths from URLs ---------------------------------------------------------------------------------------------------
def test_paths_out_of_the_root_are_404_with_nothing_read(tree, opened):
    root, outside = tree
    c = authed(root)
    secret = str(outside / "secret.mg")
    bad = ["%2e%2e/outside/secret.mg", "..%2Foutside%2Fsecret.mg", f"/{secret}", "..%5Coutside%5Csecret.mg",
           "t.mg%00.mg", "link.mg", "%2e/t.mg", "t.mg/", "", "missing.mg", "notes.txt"]
    for path in bad:
        for url in (f"/api/spec/{path}", f"/api/thumb/{path}", f"/download/{path}.svg", f"/spec/{path}"):
            assert c.get(url).status_code == 404, url
        assert c.post("/api/preview", json={"path": path.replace("%2e", ".").replace("%2F", "/"),
                                            "text": GOOD}).status_code == 404, path
    assert c.get("/api/compare?a=link.mg").status_code == 404
    assert secret not in opened and str(outside / "units.mg") not in opened
    # the gallery lists the root's own specs, not the links out of it
    assert [r["path"] for r in c.get("/api/specs").json()] == ["t.mg"]
    assert secret not in opened


@pytest.mark.parametrize("line", ['import "../outside/units.mg"', 'import "{outside}/units.mg"', 'import "ulink.mg"'])
def test_an_import_from_outside_the_root_is_a_located_error_and_never_read(tree, opened, line):
    root, outside = tree
    (root / "imp.mg").write_text(line.format(outside=outside) + "\n" + GOOD, encoding="utf-8")
    j = authed(root).get("/api/spec/imp.mg").json()
    assert not j["ok"] and "layers" not in j
    (d,) = j["diagnostics"]
    assert (d["path"], d["line"], d["column"], d["severity"]) == ("imp.mg", 1, 1, "error"), d
    assert "outside the folder being served" in d["message"] and "mgdsl serve FOLDER" in d["hint"]
    assert str(outside / "units.mg") not in opened


def test_a_base_network_from_outside_the_root_is_a_located_error(tree, opened):
    root, outside = tree
    (root / "derived.mg").write_text('# derived\nnetwork "D" from "../outside/secret.mg"\n', encoding="utf-8")
    c = authed(root)
    (d,) = c.get("/api/spec/derived.mg").json()["diagnostics"]
    assert (d["path"], d["line"]) == ("derived.mg", 2) and "outside the folder being served" in d["message"]
    text = '# derived\nnetwork "D" from "link.mg"\n'        # unsaved text is held to the same rule
    (d,) = c.post("/api/preview", json={"path": "derived.mg", "text": text}).json()["diagnostics"]
    assert (d["path"], d["line"]) == ("derived.mg", 2) and "outside the folder being served" in d["message"]
    assert str(outside / "secret.mg") not in opened


# -- bodies and methods ---------------------------------------------------------------------------------------------
def test_bodies_over_the_limit_are_413(tree):
    root, _ = tree
    c = authed(root)
    big = b"x" * (10 << 20)
    assert c.post("/api/preview", content=big, headers={"content-type": "application/json"}).status_code == 413

    def chunks():                                      # no Content-Length: counted as it streams
        for _ in range(MAX_BODY // 65536 + 2):
            yield b" " * 65536
    assert c.post("/api/preview", content=chunks()).status_code == 413
    assert c.request("GET", "/api/specs", content=big).status_code == 413
    assert c.post("/api/preview", json={"path": "t.mg", "text": GOOD}).status_code == 200


def test_only_get_and_the_preview_post_are_served(tree):
    root, _ = tree
    c = authed(root)
    for method, url in [("POST", "/api/specs"), ("PUT", "/api/spec/t.mg"), ("DELETE", "/api/spec/t.mg"),
                        ("POST", "/download/t.mg.py"), ("GET", "/api/preview"), ("PATCH", "/")]:
        assert c.request(method, url).status_code == 405, (method, url)
    before = (root / "t.mg").read_bytes()
    assert c.post("/api/save", json={"path": "t.mg", "text": "# gone\n"}).status_code == 405
    assert (root / "t.mg").read_bytes() == before


def test_saving_needs_allow_writes_and_stays_in_the_root(tree):
    root, outside = tree
    c = authed(root, allow_writes=True)
    assert c.post("/api/save", json={"path": "link.mg", "text": "# no\n"}).status_code == 404
    assert (outside / "secret.mg").read_text(encoding="utf-8").startswith('network "SECRET"')
    text = GOOD.replace("conv 4", "conv 6")
    assert c.post("/api/save", json={"path": "t.mg", "text": text}).json() == {"path": "t.mg", "saved": True}
    assert (root / "t.mg").read_text(encoding="utf-8") == text


# -- hostile specs ------------------------------------------------------------------------------------------------
HOSTILE = {
    "nested.mg": 'network "N"\ninput 3 @ 8x8\nconv ' + "(" * 5000 + "4" + ")" * 5000 + "\nfc 2\n",
    "repeat.mg": 'network "R"\ninput 3 @ 8x8\n1000000000 × conv 4\nfc 2\n',
    "calls.mg": 'unit a(c)\n  9999 × conv c\nnetwork "C"\ninput 3 @ 8x8\n9999 × a 4\nfc 2\n',
    "binary.mg": b"network \"B\"\n\xff\xfe\n",
    "wide.mg": 'network "W"\ninput 3 @ 8x8\nconv 1000000000\nfc 2\n',
}


def test_hostile_specs_get_a_located_error_and_the_server_goes_on(tree):
    root, _ = tree
    for name, text in HOSTILE.items():
        (root / name).write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    c = authed(root)
    for name in HOSTILE:
        start = time.monotonic()
        j = c.get(f"/api/spec/{name}").json()
        assert time.monotonic() - start < 30, name
        assert not j["ok"] and j["diagnostics"][0]["severity"] == "error", name
        assert j["diagnostics"][0]["path"] == name and j["diagnostics"][0]["line"] is not None, (name, j["diagnostics"])
        assert c.get("/api/spec/t.mg").json()["ok"], name                        # the next request is served
    rows = {r["path"]: r["status"] for r in c.get("/api/specs").json()}
    assert rows == {**{n: "error" for n in HOSTILE}, "t.mg": "ok"}
    assert c.get("/download/repeat.mg.py").status_code == 422
