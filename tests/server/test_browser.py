"""End to end in headless Chromium: pick a photo in the page, stylize it, check the image it shows."""

from __future__ import annotations

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
    page.goto(server.url + "/")
    page.wait_for_selector("#model option[value='tiny']", state="attached", timeout=10_000)
    assert page.locator("#model").input_value() == "tiny"
    page.set_input_files("#file", str(photo))
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
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert not console_errors, console_errors


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
