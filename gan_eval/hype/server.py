"""The rating web app: Python's ``http.server`` (ThreadingHTTPServer), no framework.

Routes (everything else is 404):

- ``GET /`` the page (``?rater=NAME`` pre-fills the name), ``GET /app.js``, ``GET /app.css``;
- ``GET /api/state?rater=NAME`` the rater's progress and next trial (registers a new rater);
- ``POST /api/answer`` one answer, JSON ``{rater, position, image, answer, response_ms}``;
- ``GET /image/K`` item K of the schedule (0 <= K < n), re-encoded as a canonical PNG.

No side channel: every image, whatever its file (JPEG with an ICC profile, 16-bit grey, palette
PNG with metadata, generated RGB), is decoded to the 8-bit RGB pixels the metrics see and written
by one encoder (:func:`canonical_png`: IHDR, one IDAT, IEND; no ancillary chunk), with the same
headers; only the pixels (and so the compressed length) differ between images.

Safety: an image URL carries only an item number, matched against ``/image/<digits>`` on the raw
path, so no path text from a request ever reaches the file system; every file served is one the
schedule drew from the two folders. Inputs are validated (name charset and length, answer in
{real, fake}, integers in range, finite response time); POST bodies are limited to 4 KiB and must
be JSON (a cross-site form cannot send that without a CORS preflight, which is never granted);
on a loopback address (127.0.0.0/8, ::1, localhost) the Host header must name that address or
localhost (no DNS rebinding). Malformed requests (odd Content-Length values, deeply nested or
huge-number JSON) get 400, never 500.
"""

import html
import ipaddress
import json
import math
import re
import socket
import struct
import sys
import threading
import traceback
import zlib
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from ..errors import GanEvalError
from . import page
from .session import ANSWERS, DB_FILE, open_session, rater_order, staircase_exposures, validate_rater
from .store import ConflictError, Store

MAX_BODY = 4096
_DRAIN_MAX = 1 << 16
MAX_RESPONSE_MS = 3_600_000.0  # an hour: anything longer is not a response time
_IMAGE_RE = re.compile(r"/image/(0|[1-9][0-9]{0,8})")
_LENGTH_RE = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() also accepts '²' and '٣'
_ANSWER_KEYS = {"rater", "position", "image", "answer", "response_ms"}
# only the page's own script and style; no inline code, no other origins, no framing
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class BadRequest(GanEvalError):
    """Input from the page that fails validation (HTTP 400)."""


class HypeApp:
    """The session behind the web page: schedule, judgments, image bytes. No HTTP here."""

    def __init__(self, session_dir, schedule):
        self.session_dir = Path(session_dir)
        self.schedule = schedule
        self.store = Store(self.session_dir / DB_FILE)
        self.image_png = lru_cache(maxsize=512)(self._encode)

    def state(self, rater):
        """Progress of `rater` and their next trial (None when done); registers a new rater."""
        s = self.schedule
        order = self.store.rater_order(rater, rater_order(s.n, s.seed, rater))
        history = self.store.history(rater)
        done = len(history)
        nxt = None
        if done < s.n:
            exposure = None
            if s.time_mode:
                exposure = staircase_exposures([h["answer"] == h["source"] for h in history])[done]
            nxt = {"position": done, "image": order[done], "exposure_ms": exposure}
        return {
            "rater": rater,
            "total": s.n,
            "done": done,
            "time_mode": s.time_mode,
            "next": nxt,
            "prefetch": order[done + 1] if done + 1 < s.n else None,
        }

    def answer(self, payload):
        """Validate and store one answer; return the rater's new state.

        Raises BadRequest for malformed input and ConflictError for an answer that is not for
        the rater's next trial (a second tab, a resent request).
        """
        if not isinstance(payload, dict) or set(payload) != _ANSWER_KEYS:
            raise BadRequest(f"expected a JSON object with keys {sorted(_ANSWER_KEYS)}")
        try:
            rater = validate_rater(payload["rater"])
        except GanEvalError as e:
            raise BadRequest(str(e)) from None
        n = self.schedule.n
        position = _int_in(payload["position"], "position", n)
        image = _int_in(payload["image"], "image", n)
        answer = payload["answer"]
        if answer not in ANSWERS:
            raise BadRequest("answer must be 'real' or 'fake'")
        rt = payload["response_ms"]
        number = isinstance(rt, (int, float)) and not isinstance(rt, bool)
        if not (number and 0 <= rt <= MAX_RESPONSE_MS and math.isfinite(rt)):  # range first: math.isfinite(10**400) overflows
            raise BadRequest(f"response_ms must be a finite number of milliseconds in [0, {MAX_RESPONSE_MS:.0f}]")
        state = self.state(rater)
        nxt = state["next"]
        if nxt is None:
            raise ConflictError(f"rater {rater!r} has already rated all {n} images")
        if position != nxt["position"] or image != nxt["image"]:
            raise ConflictError(
                f"this answer is for trial {position}, but {rater!r} is at trial {nxt['position']}; reload the page"
            )
        source = self.schedule.items[image].source
        self.store.record(rater, position, image, source, answer, float(rt), nxt["exposure_ms"])
        return self.state(rater)

    def _encode(self, index):
        """Item `index` as canonical PNG bytes (see :func:`canonical_png`)."""
        from ..inputs import decode_image

        path = self.schedule.file(index)
        return canonical_png(decode_image(path, str(path)))


def canonical_png(rgb):
    """PNG bytes of a uint8 H x W x 3 array, the same way for every image: 8-bit RGB, no
    interlace, filter 0 on every row, zlib level 6, one IDAT chunk, no ancillary chunk (no ICC
    profile, gamma, resolution, text or time)."""
    import numpy as np

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, c = rgb.shape
    if c != 3:
        raise ValueError(f"expected H x W x 3, got {rgb.shape}")
    raw = np.zeros((h, 1 + 3 * w), dtype=np.uint8)  # a leading 0 per row: filter type None
    raw[:, 1:] = rgb.reshape(h, 3 * w)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit truecolour, deflate, filter 0, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
            + chunk(b"IEND", b""))


def is_loopback(host):
    """Whether `host` (a --host value) is a loopback address: 127.0.0.0/8, ::1 (also IPv4-mapped),
    or the name localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def exposure_warning(host):
    """What binding to `host` exposes, for the terminal; None for a loopback address."""
    if is_loopback(host):
        return None
    try:
        wildcard = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        wildcard = False
    where = "every network interface of this machine" if wildcard else host
    return (f"listening on {where}: anyone who can reach it over the network can open the page, read the "
            "images and add answers (no Host-header check off loopback); use --host 127.0.0.1 unless that is meant")


def _allowed_hosts(hosts, port):
    """Host header values a loopback server accepts: the names it was given and bound to, and
    localhost, with the port (and without it on port 80, as browsers send)."""
    names = {"localhost"}
    for host in hosts:
        host = host.strip().lower().strip("[]")
        names.add(f"[{host}]" if ":" in host else host)
    out = {f"{n}:{port}" for n in names}
    if port == 80:
        out |= names
    return out


def _int_in(value, name, n):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise BadRequest(f"{name} must be an integer in [0, {n - 1}]")
    return value


def _query(query):
    try:
        return parse_qs(query, keep_blank_values=True, max_num_fields=4)
    except ValueError:
        raise BadRequest("bad query string") from None


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


class _Handler(BaseHTTPRequestHandler):
    server_version = "gan-eval-hype"
    sys_version = ""
    timeout = 30  # a stalled client cannot hold a thread for long

    # --- plumbing -------------------------------------------------------------------------
    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # quiet: the terminal shows the URL, not every request
        pass

    def _send(self, status, body, ctype, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, obj):
        self._send(status, json.dumps(obj).encode(), "application/json; charset=utf-8")

    def _fail(self, status, message, api=True):
        if api:
            self._json(status, {"error": message})
        else:
            self._send(status, (message + "\n").encode(), "text/plain; charset=utf-8")

    def _host_ok(self):
        allowed = self.server.allowed_hosts
        hosts = self.headers.get_all("Host") or []
        return allowed is None or (len(hosts) == 1 and hosts[0].strip().lower() in allowed)

    def _route(self):
        path, _, query = self.path.partition("?")
        return path, query

    def _guard(self, fn):
        path, _ = self._route()
        api = path.startswith("/api/")
        try:
            if not self._host_ok():
                return self._fail(HTTPStatus.BAD_REQUEST, "unexpected Host header", api)
            fn()
        except ConflictError as e:
            self._fail(HTTPStatus.CONFLICT, str(e), api)
        except (BadRequest, GanEvalError) as e:
            self._fail(HTTPStatus.BAD_REQUEST, str(e), api)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:  # a bug: say so, keep serving
            traceback.print_exc(file=sys.stderr)
            self._fail(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error", api)

    # --- routes ---------------------------------------------------------------------------
    def do_GET(self):
        self._guard(self._get)

    def do_POST(self):
        self._guard(self._post)

    def _get(self):
        app = self.server.app
        path, query = self._route()
        if path == "/":
            prefill = ""
            try:
                prefill = validate_rater(_query(query).get("rater", [""])[0])
            except GanEvalError:
                pass
            s = app.schedule
            body = page.INDEX_HTML.format(
                total=s.n,
                time_mode="1" if s.time_mode else "0",
                mode_note=page.TIME_MODE_NOTE if s.time_mode else "",
                prefill=html.escape(prefill, quote=True),
            )
            csp = {"Content-Security-Policy": _CSP}
            return self._send(HTTPStatus.OK, body.encode(), "text/html; charset=utf-8", csp)
        if path == "/app.js":
            return self._send(HTTPStatus.OK, page.APP_JS.encode(), "text/javascript; charset=utf-8")
        if path == "/favicon.ico":  # browsers ask for it; answer "nothing" instead of a logged 404
            return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        if path == "/app.css":
            return self._send(HTTPStatus.OK, page.APP_CSS.encode(), "text/css; charset=utf-8")
        if path == "/api/state":
            names = _query(query).get("rater", [])
            if len(names) != 1:
                raise BadRequest("give exactly one ?rater=NAME")
            return self._json(HTTPStatus.OK, app.state(validate_rater(names[0])))
        m = _IMAGE_RE.fullmatch(path)
        if m and int(m.group(1)) < app.schedule.n:
            return self._send(HTTPStatus.OK, app.image_png(int(m.group(1))), "image/png")
        self._fail(HTTPStatus.NOT_FOUND, "not found", api=path.startswith("/api/"))

    def _post(self):
        path, _ = self._route()
        if path != "/api/answer":
            return self._fail(HTTPStatus.NOT_FOUND, "not found", api=path.startswith("/api/"))
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise BadRequest("chunked bodies are not accepted; send Content-Length")
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        lengths = self.headers.get_all("Content-Length") or []
        length = lengths[0].strip() if len(lengths) == 1 else ""
        if not _LENGTH_RE.fullmatch(length):
            self.close_connection = True
            raise BadRequest("Content-Length required: one header, a decimal number of bytes")
        if int(length) > MAX_BODY:
            self.close_connection = True
            if int(length) <= _DRAIN_MAX:  # read it away so the client sees the answer, not a reset
                self.rfile.read(int(length))
            return self._fail(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body larger than {MAX_BODY} bytes")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            self.close_connection = True
            raise BadRequest(f"body shorter than its Content-Length ({len(body)} of {length} bytes)")
        if ctype != "application/json":
            raise BadRequest("expected Content-Type: application/json")
        try:
            payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as e:  # also integers beyond Python's digit limit
            raise BadRequest(f"body is not valid JSON ({e})") from None
        except RecursionError:
            raise BadRequest("body is nested too deeply") from None
        self._json(HTTPStatus.OK, self.server.app.answer(payload))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def make_server(session_dir, real, fake, n=None, seed=None, time_mode=None, host="127.0.0.1", port=8000):
    """Open (or resume) the session and bind the server; the caller runs ``serve_forever``.

    `port=0` picks a free port (read it back from ``server.server_address``).
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise GanEvalError(f"--port must be in [0, 65535], got {port!r}")
    schedule = open_session(session_dir, real, fake, n=n, seed=seed, time_mode=time_mode)
    app = HypeApp(session_dir, schedule)
    cls = _Server6 if ":" in host else _Server
    try:
        server = cls((host, port), _Handler)
    except OSError as e:
        raise GanEvalError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    server.app = app
    bound = server.server_address[1]
    server.allowed_hosts = _allowed_hosts((host, server.server_address[0]), bound) if is_loopback(host) else None
    return server


def server_url(server):
    host, port = server.server_address[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1" if host == "0.0.0.0" else "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def serve_in_thread(server):
    """Run `server` in a daemon thread (tests); stop with ``server.shutdown()``."""
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="hype-server", daemon=True)
    t.start()
    return t


def serve(server, echo=print):
    """Serve until Ctrl-C, then close cleanly (answers are already committed one by one)."""
    echo(f"HYPE rating page: {server_url(server)}  (session {server.app.session_dir}, "
         f"{server.app.schedule.n} images{', time-limited' if server.app.schedule.time_mode else ''}; Ctrl-C stops)")
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    n = len(server.app.store.judgments())
    echo(f"stopped; {n} judgments in {server.app.store.path}")
    return n
