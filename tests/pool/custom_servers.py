"""Custom-runtime test servers in two languages, speaking the FC custom runtime contract on FC_SERVER_PORT.

Event commands (the ``/invoke`` body): ``state`` (JSON: init count, calls, pid, port, FC headers seen),
``log`` (prints lines), ``fail`` (404 + JSON error), ``fail-text`` (400 + text), ``xstatus`` (200 with
``x-fc-status: 404``), ``boom`` (500), ``sleep <s>``, ``exit <code>``; anything else is echoed. HTTP calls
(``x-fc-control-path: /http-invoke``) answer 201 with a JSON echo of the request and an ``x-echo`` header.
"""

PYTHON = r"""
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state = {"init": 0, "calls": 0}
SEEN = ("x-fc-request-id", "x-fc-function-name", "x-fc-function-handler", "x-fc-function-memory",
        "x-fc-function-timeout", "x-fc-qualifier", "x-fc-version-id", "x-fc-region", "x-fc-account-id",
        "x-fc-control-path", "x-fc-service-name", "content-type")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        rid = self.headers.get("x-fc-request-id")
        if self.headers.get("x-fc-control-path") == "/http-invoke":
            echo = {"method": self.command, "path": self.path, "body": body.decode(errors="replace"),
                    "headers": [[k.lower(), v] for k, v in self.headers.items()]}
            return self.reply(201, json.dumps(echo).encode(), [("x-echo", "yes"), ("Set-Cookie", "a=1")])
        if self.path == "/initialize":
            state["init"] += 1
            print(f"FC Initialize Start RequestId: {rid}")
            print("initializing")
            print(f"FC Initialize End RequestId: {rid}")
            if os.environ.get("FAIL_INIT"):
                return self.reply(404, b'{"errorMessage": "init failed", "errorType": "InitError"}')
            return self.reply(200, b"")
        state["calls"] += 1
        print(f"FC Invoke Start RequestId: {rid}")
        try:
            cmd, _, arg = body.decode(errors="replace").partition(" ")
            if cmd == "state":
                out = dict(state, pid=os.getpid(), port=os.environ["FC_SERVER_PORT"],
                           listen=os.environ.get("FC_CUSTOM_LISTEN_PORT"),
                           headers={k: self.headers.get(k) for k in SEEN})
                return self.reply(200, json.dumps(out).encode())
            if cmd == "log":
                print("line one")
                print("line two", file=sys.stderr)
                return self.reply(200, b"logged")
            if cmd == "fail":
                return self.reply(404, b'{"errorMessage": "bad thing", "errorType": "ValueError"}')
            if cmd == "fail-text":
                return self.reply(400, b"plain failure")
            if cmd == "xstatus":
                return self.reply(200, b"soft failure", [("x-fc-status", "404")])
            if cmd == "boom":
                return self.reply(500, b"internal boom")
            if cmd == "sleep":
                time.sleep(float(arg))
            elif cmd == "exit":
                sys.stdout.flush()
                os._exit(int(arg))
            return self.reply(200, body)
        finally:
            print(f"FC Invoke End RequestId: {rid}")

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


sys.stdout.reconfigure(line_buffering=True)
print("python server starting")
ThreadingHTTPServer(("127.0.0.1", int(os.environ["FC_SERVER_PORT"])), Handler).serve_forever()
"""

NODE = r"""
const http = require("http");
const state = { init: 0, calls: 0 };
const port = parseInt(process.env.FC_SERVER_PORT || "9000", 10);

function reply(res, status, body, headers = {}) {
  res.writeHead(status, { ...headers, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const rid = req.headers["x-fc-request-id"];
    if (req.headers["x-fc-control-path"] === "/http-invoke") {
      const echo = { method: req.method, path: req.url, body: body.toString(),
                     headers: Object.entries(req.headers) };
      return reply(res, 201, JSON.stringify(echo), { "x-echo": "yes" });
    }
    if (req.url === "/initialize") {
      state.init += 1;
      console.log(`FC Initialize Start RequestId: ${rid}`);
      console.log(`FC Initialize End RequestId: ${rid}`);
      return reply(res, 200, "");
    }
    state.calls += 1;
    console.log(`FC Invoke Start RequestId: ${rid}`);
    const [cmd, arg] = body.toString().split(" ");
    const end = () => console.log(`FC Invoke End RequestId: ${rid}`);
    if (cmd === "state") {
      end();
      return reply(res, 200, JSON.stringify({ ...state, pid: process.pid, port: String(port), lang: "node",
        headers: { "x-fc-request-id": rid, "x-fc-function-name": req.headers["x-fc-function-name"] } }));
    }
    if (cmd === "log") { console.log("node says hi"); end(); return reply(res, 200, "logged"); }
    if (cmd === "fail") {
      end();
      return reply(res, 404, JSON.stringify({ errorMessage: "node failure", errorType: "Error" }));
    }
    if (cmd === "boom") { end(); return reply(res, 500, "node boom"); }
    if (cmd === "exit") { process.exit(parseInt(arg, 10)); }
    if (cmd === "sleep") { return setTimeout(() => { end(); reply(res, 200, "slept"); }, parseFloat(arg) * 1000); }
    end();
    reply(res, 200, body);
  });
}).listen(port, "127.0.0.1", () => console.log(`node server listening on ${port}`));
"""
