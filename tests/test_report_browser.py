"""The HTML report, opened in headless Chromium: every table and figure shows, not blank."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time

import pytest
from PIL import Image
from test_workflow import EXP, FIGURES, TABLES


def ensure_chromium() -> None:
    """Debian's chromium and chromedriver; installed here when missing and we may (CI: root)."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
            check=False,
            env=env,
            timeout=900,
            capture_output=True,
        )
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver could not be installed")
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install them)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        "--window-size=1400,1000",
    ):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
    yield driver
    driver.quit()


def not_blank(png: bytes) -> bool:
    img = Image.open(io.BytesIO(png)).convert("L")
    lo, hi = img.getextrema()
    return hi - lo > 64 and sum(1 for n in img.histogram() if n) > 8


def wait_for(find, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = find()
        if found:
            return found
        time.sleep(0.1)
    return None


def open_category(browser, report_html, category):
    from selenium.webdriver.common.by import By

    browser.get(report_html.as_uri())
    link = wait_for(lambda: browser.find_elements(By.LINK_TEXT, category))
    assert link, f"no {category} category in the report"
    link[0].click()
    rows = wait_for(
        lambda: [
            r for r in browser.find_elements(By.CSS_SELECTOR, "tr") if r.text.startswith("reports/")
        ]
    )
    return {r.text.strip(): r for r in rows}


def show(browser, report_html, category, name):
    from selenium.webdriver.common.by import By

    rows = open_category(browser, report_html, category)
    assert name in rows, f"{name} not listed under {category}: {sorted(rows)}"
    rows[name].find_element(By.CSS_SELECTOR, "a[iconname=eye]").click()


def test_every_table_is_shown_as_an_html_table(browser, report_html):
    from selenium.webdriver.common.by import By

    for table in TABLES:
        show(browser, report_html, "Tables", f"reports/{EXP}/{table}.html")
        frame = wait_for(lambda: browser.find_elements(By.TAG_NAME, "iframe"))
        assert frame, table
        frame = frame[0]
        assert frame.is_displayed() and frame.size["height"] > 50, table
        assert not_blank(frame.screenshot_as_png), table
        browser.switch_to.frame(frame)
        cells = browser.find_elements(By.CSS_SELECTOR, "table tbody tr td")
        headers = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "table thead th")]
        browser.switch_to.default_content()
        assert cells and headers, f"{table}: no table rows inside the report"


def test_every_figure_is_shown_and_not_blank(browser, report_html):
    from selenium.webdriver.common.by import By

    for figure in FIGURES:
        show(browser, report_html, "Figures", f"reports/{EXP}/{figure}.png")
        img = wait_for(
            lambda: [
                i
                for i in browser.find_elements(By.TAG_NAME, "img")
                if i.is_displayed() and i.size["width"] > 100
            ]
        )
        assert img, figure
        assert browser.execute_script("return arguments[0].naturalWidth", img[0]) > 100, figure
        assert not_blank(img[0].screenshot_as_png), figure


def test_screenshot_of_the_landing_page(browser, report_html, tmp_path):
    browser.get(report_html.as_uri())
    time.sleep(1)
    path = tmp_path / "report.png"
    browser.save_screenshot(str(path))
    assert not_blank(path.read_bytes())
