"""The Python runtime: runs inside an instance, imports the user's module and serves calls.

Started by the pool as ``python3 -I -S -c "...; main()"`` with a Unix socket on fd ``argv[1]``; frames are
described in ``protocol``. Stdlib only, and it never imports the ``openfc`` package: the pool copies this
file and ``protocol.py`` into ``<data_dir>/runtime/_openfc_runtime/``. Imports are kept minimal (no
``socket``, ``threading``, ``json``, ``traceback`` or ``logging`` until needed) so a cold start is cheap.

HTTP calls run the handler as a WSGI app (PEP 3333, FC extras ``fc.context`` and ``fc.request_uri``).

Arguments: ``fd concurrency rlimit_as_mb initialization_timeout [extra sys.path entries...]``; the
function's settings come from the ``FC_*`` environment. Logs: ``sys.stdout``/``sys.stderr`` are replaced by
writers that send LOG frames tagged with the current call (a context variable, so threads serving
concurrent calls and asyncio tasks inside a handler are attributed correctly); output of threads the user
started themselves is sent untagged (call id 0). Raw writes to fd 1/2 go to a pipe the pool reads.
"""

from __future__ import annotations

import _thread
import io
import os
import sys
import time
from contextvars import ContextVar

from . import protocol as P

#: (call id, request id) of the call the current thread/task is serving
_current: ContextVar[tuple[int, str]] = ContextVar("openfc_call", default=(0, ""))
_send_lock = _thread.allocate_lock()
_fd = -1
_env = os.environ
_resource = None


def _send(frame):
    with _send_lock:
        view = memoryview(frame)
        while view:
            n = os.write(_fd, view)
            view = view[n:]


class _LogWriter(io.TextIOBase):
    """A text stream that line-buffers per call and ships complete lines as LOG frames."""

    def __init__(self, real_fd):
        self._bufs = {}
        self._real_fd = real_fd
        self.buffer = _BinaryLogWriter(self)

    encoding = "utf-8"
    errors = "backslashreplace"
    line_buffering = True

    def writable(self):
        return True

    def isatty(self):
        return False

    def fileno(self):
        return self._real_fd

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        cid = _current.get()[0]
        pending = self._bufs.pop(cid, "") + s
        cut = pending.rfind("\n") + 1
        if cut:
            _send(P.pack(P.LOG, cid, pending[:cut].encode("utf-8", "backslashreplace")))
            pending = pending[cut:]
        if pending:
            self._bufs[cid] = pending
        return len(s)

    def write_bytes(self, b):
        cid = _current.get()[0]
        pending = self._bufs.pop(cid, "")
        data = pending.encode("utf-8", "backslashreplace") + bytes(b)
        if data:
            _send(P.pack(P.LOG, cid, data))
        return len(b)

    def flush_call(self, cid):
        pending = self._bufs.pop(cid, "")
        if pending:
            _send(P.pack(P.LOG, cid, pending.encode("utf-8", "backslashreplace")))

    def flush(self):
        pass


class _BinaryLogWriter(io.RawIOBase):
    def __init__(self, text):
        self._text = text

    def writable(self):
        return True

    def write(self, b):
        return self._text.write_bytes(b)


# --- logging: configured lazily, the first time anything imports ``logging`` -------------------------


class _RequestIdFilter:
    def filter(self, record):
        record.fc_request_id = _current.get()[1]
        return True


def _configure_root(logging):
    handler = logging.StreamHandler(sys.stdout)
    fmt = logging.Formatter(
        "%(asctime)s.%(msecs)03dZ %(fc_request_id)s [%(levelname)s] %(message)s", "%Y-%m-%dT%H:%M:%S"
    )
    fmt.converter = time.gmtime
    handler.setFormatter(fmt)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


class _LoggingHook:
    """A meta path finder that configures the root logger right after ``logging`` is first imported."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(cls)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_configure(module):
            exec_module(module)
            _configure_root(module)

        loader.exec_module = exec_and_configure
        return spec


_fc_logger = None


def _get_logger():
    global _fc_logger
    if _fc_logger is None:
        import logging

        logger = logging.getLogger("fc_user_logger")
        handler = logging.StreamHandler(sys.stdout)
        fmt = logging.Formatter("%(asctime)s %(fc_request_id)s [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S")
        fmt.converter = time.gmtime
        handler.setFormatter(fmt)
        handler.addFilter(_RequestIdFilter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        _fc_logger = logger
    return _fc_logger


# --- the FC context object ---------------------------------------------------------------------------


class Credentials:
    def __init__(self):
        self.access_key_id = ""
        self.access_key_secret = ""
        self.security_token = ""


class FunctionMeta:
    def __init__(self, init_timeout):
        self.name = _env.get("FC_FUNCTION_NAME", "")
        self.handler = _env.get("FC_FUNCTION_HANDLER", "")
        self.memory = int(_env.get("FC_FUNCTION_MEMORY_SIZE", "0") or 0)
        self.memory_size = self.memory
        self.timeout = int(_env.get("FC_FUNCTION_TIMEOUT", "0") or 0)
        self.initializer = _env.get("FC_FUNCTION_INITIALIZER", "")
        self.initialization_timeout = init_timeout


class ServiceMeta:
    def __init__(self, qualifier):
        self.name = _env.get("FC_SERVICE_NAME", "")
        self.log_project = ""
        self.log_store = ""
        self.qualifier = qualifier
        self.version_id = _env.get("FC_FUNCTION_VERSION", "")


class Tracing:
    def __init__(self, trace_id):
        self.span_context = trace_id or None
        self.jaeger_endpoint = None
        self.span_baggages = {}

    def parse_open_tracing_baggages(self):
        return dict(self.span_baggages)


class FCContext:
    def __init__(self, request_id, qualifier, trace_id):
        self.request_id = request_id
        self.credentials = Credentials()
        self.function = _function_meta
        self.service = ServiceMeta(qualifier)
        self.region = _env.get("FC_REGION", "")
        self.account_id = _env.get("FC_ACCOUNT_ID", "")
        self.tracing = Tracing(trace_id)

    def get_logger(self):
        return _get_logger()

    getLogger = get_logger


_function_meta = None

# --- calls -------------------------------------------------------------------------------------------


class _UserCodeError(Exception):
    """The handler could not be loaded; carries the FC errorType."""

    def __init__(self, message, error_type):
        super().__init__(message)
        self.error_type = error_type


_loaded = {}


def _load(target):
    fn = _loaded.get(target)
    if fn is not None:
        return fn
    module_name, _, attr = target.rpartition(".")
    if not module_name or not attr:
        raise _UserCodeError(f"Invalid handler '{target}': expected 'module.function'", "InvalidHandler")
    module_name = module_name.replace("/", ".")
    try:
        __import__(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise _UserCodeError(f"Unable to import module '{module_name}': {e}", "ImportModuleError") from e
        raise
    fn = getattr(sys.modules[module_name], attr, None)
    if not callable(fn):
        raise _UserCodeError(f"Handler '{attr}' is missing on module '{module_name}'", "HandlerNotFound")
    _loaded[target] = fn
    return fn


def _encode(value):
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, dict | list):
        import json

        return json.dumps(value).encode()
    return str(value).encode("utf-8", "surrogateescape")


def _error_body(exc):
    import json
    import traceback

    me = __file__
    trace = [
        [f'File "{fs.filename}"', f"line {fs.lineno}", f"in {fs.name}", fs.line or ""]
        for fs in traceback.extract_tb(exc.__traceback__)
        if fs.filename != me and not fs.filename.startswith("<frozen importlib")
    ]
    error_type = exc.error_type if isinstance(exc, _UserCodeError) else type(exc).__name__
    body = {"errorMessage": str(exc), "errorType": error_type, "stackTrace": trace}
    return json.dumps(body).encode()


def _wsgi(app, blob, context):
    """Run a WSGI ``app`` (PEP 3333) for one HTTP call; return the packed {status, headers} + body."""
    head, body = P.unpack_http(blob)
    environ = {
        "REQUEST_METHOD": head["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": head["path"].encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": head["query"],
        "CONTENT_TYPE": "",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": head["client_ip"],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "fc.context": context,
        "fc.request_uri": head["request_uri"],
    }
    for name, value in head["headers"]:
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ[key] = value
            continue
        if key == "CONTENT_LENGTH":
            continue
        key = "HTTP_" + key
        if key in environ:
            value = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + value
        environ[key] = value
    if "HTTP_HOST" in environ:
        environ["SERVER_NAME"] = environ["HTTP_HOST"].partition(":")[0]
    started = []
    chunks = []

    def start_response(status, headers, exc_info=None):
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return chunks.append

    result = app(environ, start_response)
    try:
        for chunk in result:
            if chunk:
                chunks.append(chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk))
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("the WSGI handler returned without calling start_response")
    status, headers = started
    code = int(str(status).split(" ", 1)[0])
    return P.pack_http({"status": code, "headers": [[str(k), str(v)] for k, v in headers]}, b"".join(chunks))


def _max_rss_kb():
    global _resource
    if _resource is None:
        import resource

        _resource = resource
    return _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss


def _run(cid, payload, kind):
    request_id, qualifier, trace_id, event = P.unpack_call(payload)
    token = _current.set((cid, request_id))
    status, body = P.OK, b""
    try:
        context = FCContext(request_id, qualifier, trace_id)
        if kind == P.INIT:
            _load(_env["FC_FUNCTION_INITIALIZER"])(context)
        elif kind == P.HTTP:
            body = _wsgi(_load(_env["FC_FUNCTION_HANDLER"]), event, context)
        else:
            body = _encode(_load(_env["FC_FUNCTION_HANDLER"])(event, context))
    except MemoryError:
        status, body = P.OOM, b""
    except SystemExit as e:
        _stdout.flush_call(cid)
        os._exit(e.code if isinstance(e.code, int) else 1)
    except BaseException as e:
        status = P.ERROR
        try:
            body = _error_body(e)
        except MemoryError:
            status, body = P.OOM, b""
    finally:
        _stdout.flush_call(cid)
        _current.reset(token)
    _send(P.pack_result(cid, status, _max_rss_kb() if status != P.OOM else 0, body))
    if status == P.OOM:
        os._exit(137)


def _worker(queue):
    while True:
        cid, payload, kind = queue.get()
        _run(cid, payload, kind)


_stdout = None


def main():
    global _fd, _stdout, _function_meta
    fd, concurrency, as_limit_mb, init_timeout = (int(a) for a in sys.argv[1:5])
    extra_paths = sys.argv[5:]
    _fd = fd
    os.set_inheritable(fd, False)
    if as_limit_mb > 0:
        import resource

        limit = as_limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    code_dir = _env.get("FC_FUNC_CODE_PATH", os.getcwd())
    sys.path[0:0] = [code_dir, *extra_paths]
    sys.argv = [_env.get("FC_FUNCTION_HANDLER", "")]
    _stdout = _LogWriter(1)
    sys.stdout = sys.stderr = _stdout
    sys.meta_path.insert(0, _LoggingHook)
    _function_meta = FunctionMeta(init_timeout)

    queue = None
    if concurrency > 1:
        from _queue import SimpleQueue

        queue = SimpleQueue()
        for _ in range(concurrency):
            _thread.start_new_thread(_worker, (queue,))

    _send(P.pack(P.READY, 0))
    buf = bytearray()
    header = P.HEADER
    hsize = header.size
    read = os.read
    while True:
        while len(buf) < hsize:
            chunk = read(fd, 1 << 16)
            if not chunk:
                os._exit(0)
            buf += chunk
        size, kind, cid = header.unpack_from(buf)
        end = hsize + size
        while len(buf) < end:
            chunk = read(fd, max(1 << 16, end - len(buf)))
            if not chunk:
                os._exit(0)
            buf += chunk
        payload = bytes(buf[hsize:end])
        del buf[:end]
        if (kind == P.INVOKE or kind == P.HTTP) and queue is not None:
            queue.put((cid, payload, kind))
        else:
            _run(cid, payload, kind)
