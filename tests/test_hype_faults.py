"""HYPE page under attack: no byte of a served image may tell real from fake, malformed requests
get 400 (never 500), and the Host check holds on every loopback address.

The images are built to differ in everything but pixels: an RGB PNG with an ICC profile, text and
resolution chunks, a JPEG with an ICC profile and EXIF, a 16-bit grey PNG, an 8-bit grey PNG and
a palette PNG with transparency (the "camera" side) against plain generated RGB PNGs.
"""

import http.client
import io
import json
import socket
import struct


import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from gan_eval.hype.server import exposure_warning, is_loopback, make_server, serve_in_thread
from gan_eval.inputs import decode_image

N = 10
SIDE = 12


def _srgb_icc():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("hype_faults")
    rng = np.random.default_rng(0)
    real, fake = root / "real", root / "fake"
    real.mkdir()
    fake.mkdir()
    px = lambda: rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)  # noqa: E731
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "camera firmware 1.0")
    Image.fromarray(px()).save(real / "icc.png", icc_profile=_srgb_icc(), pnginfo=info, dpi=(300, 300))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    Image.fromarray(px()).save(real / "camera.jpg", icc_profile=_srgb_icc(), exif=exif, quality=95)
    Image.fromarray(rng.integers(0, 65536, (SIDE, SIDE), dtype=np.uint16)).save(real / "grey16.png")
    Image.fromarray(px()[..., 0]).save(real / "grey.png")
    pal = Image.fromarray(px()).convert("P", palette=Image.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    pal.save(real / "palette.png", transparency=0)
    for k in range(N // 2):
        Image.fromarray(px()).save(fake / f"{k}.png")
    return root


@pytest.fixture(scope="module")
def server(folders):
    srv = make_server(folders / "session", folders / "real", folders / "fake", n=N, seed=0, host="127.0.0.1", port=0)
    serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, method, path, body=None, headers=None, host=None):
    conn = http.client.HTTPConnection(host or srv.server_address[0], srv.server_address[1], timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def chunks(png):
    """(type, data) of every chunk of a PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = [], 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        out.append((png[pos + 4:pos + 8], png[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def test_served_images_carry_nothing_but_pixels(server):
    schedule = server.app.schedule
    served = {}
    for k in range(N):
        status, headers, data = request(server, "GET", f"/image/{k}")
        assert status == 200
        served[k] = (headers, data)
    sources = {schedule.items[k].source for k in range(N)}
    assert sources == {"real", "fake"}
    files = {schedule.file(k).name for k in range(N)}
    assert {"icc.png", "camera.jpg", "grey16.png", "grey.png", "palette.png"} <= files  # every hostile kind served
    structures = {tuple(t for t, _ in chunks(data)) for _, data in served.values()}
    assert structures == {(b"IHDR", b"IDAT", b"IEND")}  # no iCCP, tEXt, pHYs, eXIf, tRNS, PLTE, gAMA...
    assert len({chunks(data)[0][1] for _, data in served.values()}) == 1  # one IHDR: 8-bit RGB, same size
    header_sets = {tuple(sorted((k, v) for k, v in h.items() if k not in ("Content-Length", "Date")))
                   for h, _ in served.values()}
    assert len(header_sets) == 1
    for k, (_, data) in served.items():
        with Image.open(io.BytesIO(data)) as im:
            assert im.mode == "RGB" and not im.info  # nothing beyond pixels
            assert np.array_equal(np.asarray(im), decode_image(schedule.file(k), "x"))  # the pixels the metrics see


def test_served_bytes_are_the_same_for_the_same_pixels(tmp_path):
    """An image saved with an ICC profile and metadata and the same pixels saved bare are served
    byte for byte alike: the encoder sees only pixels."""
    pixels = np.random.default_rng(1).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    for side in ("real", "fake"):
        (tmp_path / side).mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "from the camera")
    Image.fromarray(pixels).save(tmp_path / "real" / "a.png", icc_profile=_srgb_icc(), pnginfo=info, dpi=(72, 72))
    Image.fromarray(pixels).save(tmp_path / "fake" / "a.png")
    srv = make_server(tmp_path / "s", tmp_path / "real", tmp_path / "fake", n=2, seed=0, host="127.0.0.1", port=0)
    serve_in_thread(srv)
    try:
        a, b = (request(srv, "GET", f"/image/{k}")[2] for k in (0, 1))
    finally:
        srv.shutdown()
        srv.server_close()
    assert a == b


def raw_request(srv, data, shut_write=False):
    """Send raw bytes; return the status code of the answer (None if the server closed silently)."""
    with socket.create_connection(srv.server_address[:2], timeout=10) as s:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer else None


def _post(srv, body, length=None, extra=b""):
    length = str(len(body)).encode() if length is None else length
    return (b"POST /api/answer HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %s\r\n%sConnection: close\r\n\r\n" % (srv.server_address[1], length, extra) + body)


GOOD = {"rater": "tess", "position": 0, "image": 0, "answer": "real", "response_ms": 10.0}


def _with(**change):
    return json.dumps({**GOOD, **change}).encode()


MALFORMED = {
    "superscript digit length": dict(length="²".encode()),
    "arabic-indic digit length": dict(length="٣".encode()),
    "signed length": dict(length=b"+5"),
    "negative length": dict(length=b"-1"),
    "hex length": dict(length=b"0x10"),
    "float length": dict(length=b"1e2"),
    "empty length": dict(length=b""),
    "23-digit length": dict(length=b"9" * 23),
    "two lengths": dict(extra=b"Content-Length: 7\r\n"),
    "nested 2000 deep": dict(body=b"[" * 2000 + b"]" * 2000),
    "nested objects": dict(body=b'{"":' * 800 + b"1" + b"}" * 800),
    "huge response_ms": dict(body=_with(response_ms=10**400)),
    "huge position": dict(body=_with(position=10**4000)),
    "position beyond the digit limit": dict(body=b'{"position": ' + b"9" * 4050 + b"}"),
    "float overflow": dict(body=_with().replace(b"10.0", b"1e999")),
    "short body": dict(body=b'{"rater": "t', length=b"100", shut=True),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_requests_are_400(server, case):
    c = MALFORMED[case]
    body = c.get("body", _with())
    status = raw_request(server, _post(server, body, c.get("length"), c.get("extra", b"")), shut_write=c.get("shut", False))
    assert status == 400, (case, status)
    assert request(server, "GET", "/api/state?rater=alive")[0] == 200  # and the server keeps serving


@pytest.mark.parametrize("host", ["127.0.0.2", "127.1.2.3", "::1"])
def test_host_check_holds_on_every_loopback_address(tmp_path, folders, host):
    srv = make_server(tmp_path / "s", folders / "real", folders / "fake", n=4, seed=0, host=host, port=0)
    serve_in_thread(srv)
    port = srv.server_address[1]
    literal = f"[{host}]" if ":" in host else host
    try:
        for good in (f"{literal}:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            assert request(srv, "GET", "/", headers={"Host": good}, host=host)[0] == 200, good
        for evil in (f"evil.example:{port}", "evil.example", f"{literal}:{port + 1}", f"{literal}.evil.example:{port}", ""):
            assert request(srv, "GET", "/api/state?rater=x", headers={"Host": evil}, host=host)[0] == 400, evil
    finally:
        srv.shutdown()
        srv.server_close()


def test_loopback_and_the_exposure_warning():
    for host in ("127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1",
                 "localhost", "LOCALHOST"):
        assert is_loopback(host) and exposure_warning(host) is None, host
    for host in ("0.0.0.0", "::"):
        assert not is_loopback(host) and "every network interface" in exposure_warning(host)
    for host in ("192.168.1.10", "10.0.0.1", "fe80::1", "myhost.example", "128.0.0.1"):
        w = exposure_warning(host)
        assert not is_loopback(host) and host in w and "anyone who can reach it" in w, host

