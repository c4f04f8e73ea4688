"""End to end in headless Chromium: pick a photo in the page, stylize it, check the image it shows.

Screenshots go to ``$ANIMEGAN_SCREENSHOTS`` when it is set (else the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from server_helpers import Server

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (dev extra)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (run `make browser` to install it)")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]

# pixel statistics of an <img>, read back through a canvas
IMAGE_STATS_JS = """(id) => {
  const img = document.getElementById(id);
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, sq = 0, n = 0;
  for (let i = 0; i < px.length; i += 4) {
    const v = (px[i] + px[i + 1] + px[i + 2]) / 3; sum += v; sq += v * v; n++;
  }
  const mean = sum / n;
  return {w: img.naturalWidth, h: img.naturalHeight, mean: mean, std: Math.sqrt(sq / n - mean * mean)};
}"""

DIFF_JS = """() => {
  const read = (id) => {
    const img = document.getElementById(id);
    const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
    return ctx.getImageData(0, 0, c.width, c.height).data;
  };
  const a = read('before'), b = read('after');
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
  return d / a.length;
}"""


# every <img> that is displayed must show a decoded picture (no broken-image box, no alt text)
BROKEN_IMAGES_JS = """() => [...document.images]
  .filter((img) => img.checkVisibility())
  .filter((img) => !(img.complete && img.naturalWidth > 0))
  .map((img) => img.id || img.alt || img.src)"""


def _screens(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ANIMEGAN_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _record_requests(page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def _off_server(urls: list[str], server: Server) -> list[str]:
    return [u for u in urls if not u.startswith((server.url + "/", "blob:", "data:"))]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_page_stylizes_a_photo_and_shows_the_result(server: Server, browser, tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.jpg"
    Image.open(REPO / "src" / "animegan" / "samples" / "astronaut.jpg").convert("RGB").resize((256, 256)).save(photo,
                                                                                                      quality=92)
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    console_errors: list[str] = []
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    requests = _record_requests(page)
    page.goto(server.url + "/")
    page.wait_for_selector("#model option[value='tiny']", state="attached", timeout=10_000)
    assert page.locator("#model").input_value() == "tiny"
    # before any result: no Download link, no broken-image boxes, placeholders instead
    assert not page.locator("#download").is_visible()
    assert page.evaluate(BROKEN_IMAGES_JS) == []
    assert page.locator("#before-empty").is_visible() and page.locator("#after-empty").is_visible()
    page.screenshot(path=str(_screens(tmp_path) / "page-before.png"), full_page=True)
    page.set_input_files("#file", str(photo))
    assert not page.locator("#download").is_visible()  # a photo, but still no result
    assert page.locator("#before").is_visible() and page.locator("#after-empty").is_visible()
    page.locator("#strength").fill("0.9")
    page.click("#go")
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Done')",
                           timeout=60_000)
    page.wait_for_function("() => { const i = document.getElementById('after'); "
                           "return i.complete && i.naturalWidth > 0; }", timeout=10_000)
    before = page.evaluate(IMAGE_STATS_JS, "before")
    after = page.evaluate(IMAGE_STATS_JS, "after")
    assert (after["w"], after["h"]) == (256, 256) == (before["w"], before["h"])
    assert after["std"] > 5.0  # a picture with structure, not a blank or flat image
    assert page.evaluate(DIFF_JS) > 2.0  # and not the photo handed back unchanged
    link = page.locator("#download")
    assert link.is_visible() and link.get_attribute("download") == "astronaut-anime.png"
    assert link.get_attribute("href").startswith("blob:")
    assert page.evaluate(BROKEN_IMAGES_JS) == []
    page.screenshot(path=str(_screens(tmp_path) / "page-after.png"), full_page=True)
    assert not console_errors, console_errors
    assert _off_server(requests, server) == []


def test_page_shows_the_servers_error_for_a_bad_file(server: Server, browser, tmp_path: Path) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("this is text, not a PNG\n")
    page = browser.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("#model option[value='tiny']", state="attached", timeout=10_000)
    page.set_input_files("#file", str(fake))
    page.click("#go")
    page.wait_for_function("() => document.getElementById('status').textContent.startsWith('Failed')",
                           timeout=30_000)
    status = page.locator("#status")
    assert "notes.png: not a decodable image" in status.text_content()
    assert status.get_attribute("class") == "error"


def test_style_list_has_one_entry_per_model_with_distinct_labels(zoo_server: Server, browser, tmp_path: Path) -> None:
    import httpx

    offered = httpx.get(zoo_server.url + "/api/v1/models", timeout=30).json()
    assert len({m["style"] for m in offered["models"]}) < len(offered["models"])  # styles repeat in the zoo
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(zoo_server.url + "/")
    page.wait_for_selector(f"#model option[value='{offered['default']}']", state="attached", timeout=10_000)
    options = page.evaluate("() => [...document.querySelectorAll('#model option')].map("
                            "(o) => ({value: o.value, label: o.textContent, disabled: o.disabled}))")
    labels = [o["label"] for o in options]
    assert sorted(o["value"] for o in options) == sorted(m["name"] for m in offered["models"])
    assert len(set(labels)) == len(labels), labels
    unavailable = {m["name"] for m in offered["models"] if not m["available"]}
    assert {o["value"] for o in options if o["disabled"]} == unavailable
    shipped = {"shinkai", "hayao", "paprika", "shinkai_lite"}  # bundled: offered and usable offline
    assert shipped <= {o["value"] for o in options if not o["disabled"]}
    assert page.locator("#model").input_value() == offered["default"]
    page.evaluate("() => { const s = document.getElementById('model'); s.size = s.options.length + 1; }")
    page.locator("#model").screenshot(path=str(_screens(tmp_path) / "style-list.png"))  # the list, opened


def test_docs_render_offline_from_this_server(server: Server, browser, tmp_path: Path) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    requests = _record_requests(page)
    page.goto(server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    page.wait_for_selector(".opblock-summary-path[data-path='/api/v1/stylize']", timeout=15_000)
    assert "animegan" in page.locator(".swagger-ui .info .title").text_content()
    paths = page.evaluate("() => [...document.querySelectorAll('.opblock-summary-path')].map((e) => e.dataset.path)")
    assert {"/api/v1/stylize", "/api/v1/videos", "/api/v1/videos/{job_id}", "/healthz"} <= set(paths)
    page.screenshot(path=str(_screens(tmp_path) / "docs.png"), full_page=False)
    assert requests and _off_server(requests, server) == [], requests
