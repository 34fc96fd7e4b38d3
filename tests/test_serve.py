"""roicodec serve (docs/serve.md): the HTTP API with Starlette's test client, then the page in a real
browser (Playwright driving Debian's chromium, headless): open, paint, compress, download, decode.

ROICODEC_SERVE_SCREENSHOT=docs/serve.png (and ROICODEC_SERVE_IMAGE=a picture, default examples/card.png)
makes the browser test save the page with its result: the screenshot in the docs comes from here.
"""

import importlib.util
import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("starlette", reason='the ui extra is not installed (pip install -e ".[ui]")')
pytest.importorskip("uvicorn", reason='the ui extra is not installed (pip install -e ".[ui]")')
pytest.importorskip("python_multipart", reason='the ui extra is not installed (pip install -e ".[ui]")')
if not any(importlib.util.find_spec(m) for m in ("httpx2", "httpx")):
    pytest.skip("Starlette's test client needs httpx2", allow_module_level=True)

import roicodec  # noqa: E402
from roicodec.serve.app import create_app  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "examples" / "card.png"  # 384x256
MAX_PIXELS = 1_000_000


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(max_pixels=MAX_PIXELS)) as c:
        yield c


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


def _upload(client, data: bytes = None, name: str = "card.png"):
    return client.post("/api/images", files={"file": (name, CARD.read_bytes() if data is None else data, "image/png")})


def _wait(client, job: str, limit: float = 180) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        status = client.get(f"/api/jobs/{job}").json()
        assert status["state"] in ("queued", "running", "done", "error")
        if status["state"] in ("done", "error"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"job not done after {limit} s: {status}")


def test_the_page_and_its_assets_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/app.css"):
        assert asset in page.text
        assert client.get(asset).status_code == 200
    for text in (page.text, client.get("/static/app.js").text, client.get("/static/app.css").text):
        assert "http://" not in text and "https://" not in text and "//cdn" not in text  # works offline


def test_upload_gives_the_picture_as_the_codec_sees_it(client):
    r = _upload(client)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"], body["name"]) == (384, 256, "card")
    png = client.get(f"/api/images/{body['id']}/image.png")
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size == (384, 256)


@pytest.mark.parametrize("data, name, status, words", [
    (b"this is not a picture", "notes.txt", 415, "not an image"),
    (b"", "empty.png", 400, "empty"),
    (_png(np.zeros((1001, 1000, 3), np.uint8)), "big.png", 413, "MP"),
    (CARD.read_bytes()[:400], "cut.png", 415, "damaged"),
])
def test_bad_uploads_are_4xx_with_a_message(client, data, name, status, words):
    r = _upload(client, data, name)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"] and "Traceback" not in r.text


def test_a_form_without_a_file_is_a_400(client):
    r = client.post("/api/images", data={"x": "1"})
    assert r.status_code == 400 and "file" in r.json()["detail"]
    r = client.post("/api/images", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "form" in r.json()["detail"]


@pytest.mark.parametrize("fields, status, words", [
    ({"target": "abc"}, 400, "number"),
    ({"target": "-3"}, 400, "positive"),
    ({"target": "0"}, 400, "positive"),
    ({"target": "inf"}, 400, "finite"),
    ({"target": "1e30"}, 400, "uncompressed"),
    ({"target": "30", "unit": "bpp"}, 400, "uncompressed"),
    ({"target": "3", "unit": "parsecs"}, 400, "unit"),
    ({"target": "3", "strength": "99"}, 400, "ROI strength"),
    ({"target": "3", "effort": "9"}, 400, "effort"),
    ({"target": "3", "image": "nosuchpicture"}, 404, "open it again"),
])
def test_bad_settings_are_4xx_with_a_message(client, fields, status, words):
    image = _upload(client).json()["id"]
    r = client.post("/api/jobs", data={"image": image, "unit": "KB", **fields})
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_a_mask_of_another_size_is_a_400(client):
    image = _upload(client).json()["id"]
    mask = _png(np.zeros((10, 10, 4), np.uint8), "RGBA")
    r = client.post("/api/jobs", data={"image": image, "target": "3", "unit": "KB"}, files={"mask": ("m.png", mask, "image/png")})
    assert r.status_code == 400 and "384x256" in r.json()["detail"]


def test_unknown_results_are_404(client):
    assert client.get("/api/jobs/nosuchjob").status_code == 404
    assert client.get("/api/images/nosuchpicture/image.png").status_code == 404


def test_a_job_codes_within_budget_and_compares_at_the_same_byte_count(client):
    image = _upload(client).json()["id"]
    alpha = np.zeros((256, 384), np.uint8)
    alpha[40:120, 60:200] = 255
    mask = _png(np.dstack([np.full((256, 384, 3), 255, np.uint8), alpha]), "RGBA")
    r = client.post("/api/jobs", data={"image": image, "target": "3", "unit": "KB", "strength": "3"},
                    files={"mask": ("mask.png", mask, "image/png")})
    assert r.status_code == 200, r.text
    job = r.json()["id"]
    status = _wait(client, job)
    assert status["state"] == "done", status["error"]
    assert status["step"] == status["steps"]
    result = status["result"]
    rows = {row["codec"]: row for row in result["rows"]}
    assert result["target"] == 3000 and set(rows) == {"roicodec", "avif", "webp"}
    rcz = client.get(f"/api/jobs/{job}/files/rcz").content
    assert len(rcz) == rows["roicodec"]["bytes"] <= 3000
    assert roicodec.inspect(rcz)["has_roi"]
    assert roicodec.decompress(rcz).size == (384, 256)
    assert rows["roicodec"]["psnr_roi"] is not None
    for name in ("avif", "webp"):  # at most roicodec's byte count
        if "error" not in rows[name]:
            assert rows[name]["bytes"] <= len(rcz)
            assert Image.open(io.BytesIO(client.get(f"/api/jobs/{job}/files/{name}.png").content)).size == (384, 256)
    overlay = Image.open(io.BytesIO(client.get(f"/api/jobs/{job}/files/importance.png").content))
    assert overlay.size == (384, 256) and overlay.mode == "RGBA"
    assert np.asarray(overlay)[80, 120, 3] > np.asarray(overlay)[230, 350, 3]  # more importance in the painted box
    download = client.get(f"/api/jobs/{job}/files/rcz?download=../card.rcz")
    assert download.headers["content-disposition"] == 'attachment; filename="card.rcz"'
    assert client.get(f"/api/jobs/{job}/files/secrets.txt").status_code == 404


def test_a_target_out_of_reach_gives_the_nearest_file_and_says_so(client):
    image = _upload(client, _png(np.random.RandomState(0).randint(0, 256, (16, 16), np.uint8)), "tiny.png").json()["id"]
    status = _wait(client, client.post("/api/jobs", data={"image": image, "target": "10", "unit": "bytes"}).json()["id"])
    assert status["state"] == "done", status["error"]
    rows = {row["codec"]: row for row in status["result"]["rows"]}
    assert rows["roicodec"]["bytes"] > 10 and any("smallest file" in note for note in status["result"]["notes"])
    assert "error" in rows["avif"] or rows["avif"]["bytes"] <= rows["roicodec"]["bytes"]


def test_auto_roi_gives_an_editable_mask(client):
    image = _upload(client).json()["id"]
    r = client.post(f"/api/images/{image}/auto-roi")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body["sources"]) >= {"faces", "saliency"}
    mask = Image.open(io.BytesIO(__import__("base64").b64decode(body["mask"].split(",", 1)[1])))
    assert mask.size == (384, 256) and mask.mode == "LA"


# --- the page in a browser ---------------------------------------------------------------------

def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


@pytest.fixture(scope="module")
def server():
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not srv.started:
        assert time.monotonic() - t0 < 30 and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    executable = _chromium()
    if executable is None:
        pytest.skip("no chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def test_the_page_paints_compresses_and_downloads(server, browser, tmp_path):
    picture = Path(os.environ.get("ROICODEC_SERVE_IMAGE", CARD))
    w, h = Image.open(picture).size
    target = f"{w * h * 0.25 / 8 / 1000:.1f}"  # KB, about 0.25 bpp
    budget = int(float(target) * 1000)
    page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server)

    page.set_input_files("#file", {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture"})
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error")

    page.set_input_files("#file", str(picture))
    page.wait_for_selector("body[data-state=ready]")
    if os.environ.get("ROICODEC_SERVE_SCREENSHOT"):  # start from the automatic ROI, as a user would
        page.click("#auto-roi")
        page.wait_for_selector("#roi-sources:has-text('auto')", timeout=60_000)
    box = page.locator("#paint").bounding_box()
    page.mouse.move(box["x"] + 0.15 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.45 * box["width"], box["y"] + 0.35 * box["height"], steps=12)
    page.mouse.up()
    painted = page.evaluate("() => { const m = state.mask; const d = m.getContext('2d').getImageData(0, 0, m.width, m.height).data;"
                            " let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n / (m.width * m.height); }")
    assert painted > 0.02

    page.fill("#target", target)
    page.select_option("#unit", "KB")
    page.locator("#strength").evaluate("el => { el.value = '3'; el.dispatchEvent(new Event('input')); }")
    page.click("#compress")
    page.wait_for_selector("#progress:not([hidden])")
    page.wait_for_selector("body[data-state=done]", timeout=120_000)
    assert page.locator("#result-table tbody tr").count() == 3

    with page.expect_download() as download:
        page.click("#download-rcz")
    assert download.value.suggested_filename == f"{picture.stem}.rcz"
    data = Path(download.value.path()).read_bytes()
    assert len(data) <= budget
    assert roicodec.inspect(data)["has_roi"]
    assert roicodec.decompress(data).size == (w, h)
    with page.expect_download() as download:
        page.click("#download-roicodec-png")
    assert Image.open(download.value.path()).size == (w, h)

    # the comparison view: importance overlay, slider, zoom
    assert page.is_visible("#view-a")
    page.check("#overlay")
    view = page.locator("#view-a").bounding_box()
    page.mouse.move(view["x"] + view["width"] / 2, view["y"] + view["height"] / 2)
    page.mouse.down()
    page.mouse.move(view["x"] + 0.6 * view["width"], view["y"] + view["height"] / 2, steps=5)
    page.mouse.up()
    assert abs(page.evaluate("view.split") - 0.6) < 0.05
    page.click("#zoom-in")
    assert page.evaluate("view.zoom") > 1
    page.click("#zoom-fit")
    if shot := os.environ.get("ROICODEC_SERVE_SCREENSHOT"):
        page.screenshot(path=shot)
    assert errors == []
    page.close()
