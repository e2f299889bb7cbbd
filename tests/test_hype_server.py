"""The HYPE web server over real HTTP on a loopback port: images only by item number (every path
that tries to leave the folders is 404), strict validation of every POST (400/409/413), escaping,
headers, and the `hype serve` command (bad input exits 2; Ctrl-C stops it cleanly)."""

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from gan_eval.cli.main import main
from gan_eval.hype.server import make_server, serve_in_thread
from gan_eval.hype.session import rater_order

N = 10


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hype_srv")
    rng = np.random.default_rng(0)
    for src in ("real", "fake"):
        (root / src).mkdir()
        for k in range(N // 2 + 1):
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(root / src / f"{k}.png")
    (root / "secret.txt").write_text("root:x:0:0:secret\n")
    return root


def _serve(session):
    srv = make_server(session, session.parent / "real", session.parent / "fake", n=N, seed=0, host="127.0.0.1", port=0)
    serve_in_thread(srv)
    return srv


@pytest.fixture(scope="module")
def shared(folders):
    """One server for the tests that store nothing."""
    srv = _serve(folders / "shared_session")
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def server(folders, tmp_path):
    """A fresh session for the tests that store answers."""
    srv = _serve(folders / f"session_{tmp_path.name}")
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def post(srv, obj, raw=None, ctype="application/json"):
    body = raw if raw is not None else json.dumps(obj).encode()
    status, _, data = request(srv, "POST", "/api/answer", body, {"Content-Type": ctype})
    return status, (json.loads(data) if data.startswith(b"{") else data)


def first_trial(srv, rater="tess"):
    status, _, data = request(srv, "GET", f"/api/state?rater={rater}")
    assert status == 200
    return json.loads(data)["next"]


def test_image_by_index_is_the_source_pixels(shared):
    status, headers, data = request(shared, "GET", "/image/3")
    assert status == 200 and headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(data)) as served, Image.open(shared.app.schedule.file(3)) as src:
        assert np.array_equal(np.asarray(served), np.asarray(src))


@pytest.mark.parametrize(
    "path",
    [
        "/image/../../etc/passwd",
        "/image/..%2F..%2Fetc%2Fpasswd",
        "/image/%2e%2e/%2e%2e/etc/passwd",
        "/image/%252e%252e/etc/passwd",
        "/image/0/../../secret.txt",
        "/image/..\\..\\secret.txt",
        "/image//etc/passwd",
        "/image/../secret.txt",
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/secret.txt",
        "/etc/passwd",
        "/image/",
        "/image/-1",
        f"/image/{N}",
        "/image/99999999999",
        "/image/01",
        "/image/1.0",
        "/image/0x1",
        "/image/%30",
        "/image/0%00",
        "/image/real/0.png",
        "/api/nothing",
    ],
)
def test_paths_outside_the_schedule_are_404(shared, path):
    status, _, data = request(shared, "GET", path)
    assert status == 404
    assert b"root:" not in data and b"PNG" not in data


def test_a_full_answer_round_trip(server):
    nxt = first_trial(server)
    order = rater_order(N, 0, "tess")
    assert nxt == {"position": 0, "image": order[0], "exposure_ms": None}
    status, st = post(server, {"rater": "tess", "position": 0, "image": order[0], "answer": "fake", "response_ms": 812.5})
    assert status == 200 and st["done"] == 1 and st["next"]["image"] == order[1]
    row = server.app.store.history("tess")[0]
    assert row["answer"] == "fake" and row["response_ms"] == 812.5
    assert row["source"] == server.app.schedule.items[order[0]].source


def good(srv, **changes):
    nxt = first_trial(srv)
    payload = {"rater": "tess", "position": nxt["position"], "image": nxt["image"], "answer": "real", "response_ms": 700}
    payload.update(changes)
    return payload


@pytest.mark.parametrize(
    "change, message",
    [
        ({"answer": "maybe"}, "answer must be 'real' or 'fake'"),
        ({"answer": None}, "answer must be"),
        ({"position": -1}, "position must be an integer in [0, 9]"),
        ({"position": N}, "position must be an integer"),
        ({"position": "0"}, "position must be an integer"),
        ({"position": True}, "position must be an integer"),
        ({"position": 0.0}, "position must be an integer"),
        ({"image": N}, "image must be an integer in [0, 9]"),
        ({"image": -3}, "image must be an integer"),
        ({"response_ms": -1}, "response_ms must be a finite number"),
        ({"response_ms": "700"}, "response_ms must be a finite number"),
        ({"response_ms": 1e12}, "response_ms must be a finite number"),
        ({"response_ms": None}, "response_ms must be a finite number"),
        ({"rater": ""}, "rater name must have 1 to 40 characters"),
        ({"rater": "x" * 41}, "rater name must have 1 to 40"),
        ({"rater": "<script>alert(1)</script>"}, "rater name may contain only"),
        ({"rater": 7}, "rater name must be text"),
        ({"extra": 1}, "expected a JSON object with keys"),
    ],
)
def test_bad_answers_are_400(shared, change, message):
    status, body = post(shared, good(shared, **change))
    assert status == 400 and message in body["error"]
    assert shared.app.store.history("tess") == []


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"{not json", "not valid JSON"),
        (b'{"rater": "tess", "position": 0, "image": 0, "answer": "real", "response_ms": NaN}', "NaN is not allowed"),
        (b'{"rater": "tess", "position": 0, "image": 0, "answer": "real", "response_ms": Infinity}', "Infinity is not allowed"),
        (b'{"rater": "tess", "position": 0, "image": 0, "answer": "real", "response_ms": 1e999}', "finite number"),
        (b"[1, 2, 3]", "expected a JSON object"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_malformed_bodies_are_400(shared, raw, message):
    status, body = post(shared, None, raw=raw)
    assert status == 400 and message in body["error"]


def test_wrong_content_type_is_400(shared):
    status, body = post(shared, good(shared), ctype="text/plain")
    assert status == 400 and "application/json" in body["error"]


def test_missing_length_is_400(shared):
    conn = http.client.HTTPConnection("127.0.0.1", shared.server_address[1], timeout=10)
    conn.putrequest("POST", "/api/answer")
    conn.putheader("Content-Type", "application/json")
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 400 and "Content-Length required" in json.loads(r.read())["error"]
    conn.close()


def test_oversized_body_is_413(shared):
    payload = good(shared, rater="x" * 5000)
    status, body = post(shared, payload)
    assert status == 413 and "larger than 4096" in body["error"]


def test_stale_or_mismatched_answers_are_409(server):
    nxt = first_trial(server)
    order = rater_order(N, 0, "tess")
    ok = {"rater": "tess", "position": 0, "image": nxt["image"], "answer": "real", "response_ms": 500}
    assert post(server, ok)[0] == 200
    status, body = post(server, ok)  # the same answer again (double click, second tab)
    assert status == 409 and "reload the page" in body["error"]
    status, body = post(server, {**ok, "position": 1, "image": order[2]})  # wrong image for the trial
    assert status == 409
    assert len(server.app.store.history("tess")) == 1


def test_state_needs_one_valid_rater(shared):
    for path in ("/api/state", "/api/state?rater=", "/api/state?rater=a&rater=b", "/api/state?rater=%3Cb%3E"):
        status, _, data = request(shared, "GET", path)
        assert status == 400 and json.loads(data)["error"]


def test_foreign_host_header_is_refused(shared):
    status, _, data = request(shared, "GET", "/api/state?rater=tess", headers={"Host": "evil.example:8000"})
    assert status == 400 and b"Host" in data


def test_page_escapes_and_sets_headers(shared):
    status, headers, body = request(shared, "GET", "/?rater=%3Cscript%3Ealert(1)%3C/script%3E")
    assert status == 200 and b"<script>alert" not in body and b"alert(1)" not in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, _, body = request(shared, "GET", "/?rater=Zo%C3%AB")
    assert 'value="Zoë"'.encode() in body
    for path, ctype in (("/app.js", "text/javascript"), ("/app.css", "text/css")):
        status, headers, _ = request(shared, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(ctype)


def test_prefilled_name_is_html_escaped(shared, monkeypatch):
    """Names with markup never pass validation; escaping is the second line of defence."""
    import gan_eval.hype.server as server_module

    monkeypatch.setattr(server_module, "validate_rater", lambda name: name)
    status, _, body = request(shared, "GET", "/?rater=%22%3E%3Cscript%3Ex()%3C/script%3E")
    assert status == 200
    assert b'"><script>' not in body and b"&quot;&gt;&lt;script&gt;x()&lt;/script&gt;" in body


def test_other_methods_and_posts_elsewhere(shared):
    assert request(shared, "POST", "/image/0", b"{}", {"Content-Type": "application/json"})[0] == 404
    assert request(shared, "PUT", "/api/answer", b"{}")[0] == 501
    assert request(shared, "DELETE", "/")[0] == 501


def test_time_mode_exposures_come_from_the_server(folders, tmp_path):
    srv = make_server(tmp_path / "t", folders / "real", folders / "fake", n=N, seed=0, time_mode=True, port=0)
    serve_in_thread(srv)
    try:
        nxt = first_trial(srv, "tim")
        assert nxt["exposure_ms"] == 500
        for _ in range(3):  # three correct answers: 10 ms shorter
            src = srv.app.schedule.items[nxt["image"]].source
            status, st = post(srv, {"rater": "tim", "position": nxt["position"], "image": nxt["image"], "answer": src, "response_ms": 300})
            assert status == 200
            nxt = st["next"]
        assert nxt["exposure_ms"] == 490
        assert [r["exposure_ms"] for r in srv.app.store.history("tim")] == [500, 500, 500]
    finally:
        srv.shutdown()
        srv.server_close()


# --- the command ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n", "5"], "--n must be an even integer >= 2"),
        (["--n", "40"], "has 6 images; --n 40 needs 20"),
        (["--port", "70000"], "--port must be in [0, 65535]"),
    ],
)
def test_serve_bad_input_exits_2(folders, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as ex:
        main(["hype", "serve", str(folders / "real"), str(folders / "fake"), "--session", str(tmp_path / "s"), *args])
    assert ex.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_serve_missing_folder_and_other_session_exit_2(folders, tmp_path, capsys):
    with pytest.raises(SystemExit) as ex:
        main(["hype", "serve", str(tmp_path / "nope"), str(folders / "fake"), "--session", str(tmp_path / "s")])
    assert ex.value.code == 2 and "REAL" in capsys.readouterr().err
    srv = make_server(tmp_path / "s", folders / "real", folders / "fake", n=4, port=0)
    srv.server_close()
    with pytest.raises(SystemExit) as ex:
        main(["hype", "serve", str(folders / "real"), str(folders / "fake"), "--session", str(tmp_path / "s"),
              "--n", "6"])
    assert ex.value.code == 2 and "was made with --n 4; got 6" in capsys.readouterr().err


def test_serve_port_in_use_exits_2(folders, tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(SystemExit) as ex:
            main(["hype", "serve", str(folders / "real"), str(folders / "fake"), "--session", str(tmp_path / "s"),
                  "--n", "4", "--port", str(port)])
    assert ex.value.code == 2 and "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_serve_prints_the_url_and_stops_cleanly_on_ctrl_c(folders, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "gan_eval", "hype", "serve", str(folders / "real"), str(folders / "fake"),
           "--session", str(tmp_path / "s"), "--n", "4", "--port", "0"]
    # A shell's background job starts with SIGINT ignored, and Python then installs no Ctrl-C
    # handler; give the server the default disposition, as a terminal would.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        line = p.stdout.readline()
        assert line.startswith("HYPE rating page: http://127.0.0.1:"), line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 200
        conn.close()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    assert "stopped; 0 judgments" in out
