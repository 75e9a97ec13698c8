"""The page in a real browser: Debian's Chromium, headless, driven by Playwright (its own browsers unused).

Loads the page, uploads two photos (one broken), waits for both, checks the before/after slider, the views,
the downloads (byte for byte runtime-infer's files), that every request went to the page's own server, and
saves a screenshot in the test's folder (and to $REVIVE_UI_SCREENSHOT when set: the README's picture).
The page's Content-Security-Policy stays on: the test proves the page works under it.
"""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from .conftest import needs_ui_extra

needs_ui_extra()
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000


def chromium() -> str | None:
    """Debian's chromium (or $REVIVE_CHROMIUM): Playwright's own browser download cannot run offline."""
    found = os.environ.get("REVIVE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).exists() else None


@pytest.fixture
def browser_page(tmp_path):
    executable = chromium()
    if executable is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set REVIVE_CHROMIUM)")
    with playwright.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, args=CHROMIUM_FLAGS, headless=True,
            accept_downloads=True, viewport={"width": 1180, "height": 860}, timeout=TIMEOUT_MS)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            context.close()


def test_upload_two_photos_compare_and_download(browser_page, ui_server, ui_photos, cli_outputs, tmp_path):
    from playwright.sync_api import expect

    page, origin = browser_page, ui_server.url.rstrip("/")
    requests, problems = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(ui_server.url)
    expect(page.locator("#route")).to_contain_text("restore, then colorize")
    page.set_input_files("#files", [str(ui_photos["good"]), str(ui_photos["broken"])])

    cards = page.locator(".card")
    expect(cards).to_have_count(2)
    done, failed = page.locator(".card[data-status=done]"), page.locator(".card[data-status=failed]")
    expect(done).to_have_count(1)
    expect(failed).to_have_count(1)
    expect(page.locator("#counts")).to_have_text("1 of 2 done, 1 failed")
    expect(failed.locator(".name")).to_have_text("broken.jpg")
    reason = failed.locator(".status").inner_text()
    assert "decode" in reason or "not an image" in reason, reason

    # Before and after: two loaded pictures of one size, the after one cut where the slider stands.
    expect(done.locator(".name")).to_have_text("scratched.png")
    before, after = done.locator("img.before"), done.locator("img.after")
    for img in (before, after):
        expect(img).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    sizes = [img.evaluate("img => [img.naturalWidth, img.naturalHeight]") for img in (before, after)]
    assert sizes[0] == sizes[1] == [480, 360]
    done.locator("input.slider").fill("30")
    assert "30%" in after.evaluate("img => getComputedStyle(img).clipPath")

    # The optional views swap the right-hand picture; the result comes back.
    done.locator(".views label", has_text="Damage mask").click()
    expect(after).to_have_attribute("src", re.compile(r"/preview/mask$"))
    expect(done.locator(".tag-after")).to_have_text("Damage mask")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0 && img.src.endsWith('/preview/mask')",
                           arg=after.element_handle())
    done.locator(".views label", has_text="Result").click()
    expect(done.locator(".tag-after")).to_have_text("After")

    # Downloads: the file runtime-infer writes, byte for byte, and all results as one zip.
    with page.expect_download() as caught:
        done.locator("a.download[data-view=result]").click()
    download = caught.value
    assert download.suggested_filename == "scratched.png"
    saved = tmp_path / "downloaded.png"
    download.save_as(saved)
    assert saved.read_bytes() == (cli_outputs / "scratched.png").read_bytes()
    expect(page.locator("#zip")).to_be_visible()
    with page.expect_download() as caught:
        page.locator("#zip").click()
    zipped = tmp_path / "all.zip"
    caught.value.save_as(zipped)
    with zipfile.ZipFile(zipped) as z:
        assert sorted(z.namelist()) == ["scratched.png", "scratched.restored.png"]
        assert z.read("scratched.png") == (cli_outputs / "scratched.png").read_bytes()

    done.locator("input.slider").fill("42")
    done.locator("input.slider").blur()
    shot = tmp_path / "revive-ui.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("REVIVE_UI_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["REVIVE_UI_SCREENSHOT"])

    elsewhere = [u for u in requests if not u.startswith(origin + "/") and not u.startswith(("data:", "blob:"))]
    assert not elsewhere, elsewhere
    assert not problems, problems
