"""The smallest Language Server Protocol client: starts `mgdsl lsp` as a subprocess and speaks
JSON-RPC to it over stdio with Content-Length framing, as editors do. Used by tests/test_lsp.py and
tools/bench_lsp.py."""
from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading


class Client:
    def __init__(self, cwd=None, command=None):
        self.proc = subprocess.Popen(command or [sys.executable, "-m", "mgdsl", "lsp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
        self.inbox: queue.Queue = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            self.inbox.put(json.loads(out.read(int(headers["content-length"]))))

    def send(self, msg: dict):
        body = json.dumps({"jsonrpc": "2.0", **msg}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params):
        self.send({"method": method, "params": params})

    def request(self, method: str, params, timeout=60):
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        reply = self.wait(lambda m: m.get("id") == self.next_id and "method" not in m, timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    def wait(self, pred, timeout=60):
        while True:
            msg = self.inbox.get(timeout=timeout)
            if pred(msg):
                return msg

    def initialize(self, root_uri: str | None = None, encodings: list[str] | None = None) -> dict:
        """`encodings`: the position encodings the client offers, most wanted first (LSP 3.17's
        general.positionEncodings); None offers none, which means UTF-16."""
        caps = {"general": {"positionEncodings": encodings}} if encodings is not None else {}
        result = self.request("initialize", {"processId": None, "rootUri": root_uri, "capabilities": caps})
        self.notify("initialized", {})
        return result

    def diagnostics(self, uri: str, version: int) -> list:
        return self.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and
                         m["params"]["uri"] == uri and m["params"].get("version") == version)["params"]["diagnostics"]

    def open(self, uri: str, text: str, version: int = 1) -> list:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "mgdsl", "version": version,
                                                              "text": text}})
        return self.diagnostics(uri, version)

    def change(self, uri: str, text: str, version: int) -> list:
        """Replace the whole text."""
        return self.edit(uri, version, [{"text": text}])

    def edit(self, uri: str, version: int, changes: list[dict]) -> list:
        """Incremental changes, each {"range": {"start": {"line", "character"}, "end": ...}, "text"}
        in the negotiated position encoding (or {"text"} alone for the whole text)."""
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": changes})
        return self.diagnostics(uri, version)

    def close(self):
        try:
            self.request("shutdown", None, timeout=20)
            self.notify("exit", None)
            self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
