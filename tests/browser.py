"""A real headless browser for tests: Debian's ``chromium`` driven by selenium through
Debian's ``chromedriver`` (``apt-get install chromium chromium-driver``; ``make test`` installs
them when missing).

Selenium is given both paths, so its own driver manager never runs and nothing is downloaded.
The flags keep Chromium off the network (no background requests, component updates, sync or
first-run pages: a closed network would answer them with errors) and in a fresh profile.
The browser's console is kept (``goog:loggingPrefs``) so that tests can assert it stayed
free of errors, a Content-Security-Policy violation among them.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from nighdb.store import ClosingContext

__all__ = ["Browser", "find_chromium"]

_T = TypeVar("_T")

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1280,1600",
)


def find_chromium() -> tuple[Path, Path]:
    """The browser and its driver; a test that needs them fails (never skips) without them."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "the console's browser tests need Debian's chromium and chromium-driver: "
            "`apt-get install -y chromium chromium-driver` (make test does it when it can)"
        )
    return CHROMIUM, CHROMEDRIVER


class Browser(ClosingContext):
    """One headless Chromium with its own new profile directory."""

    def __init__(self) -> None:
        chromium, driver = find_chromium()
        self._profile = tempfile.mkdtemp(prefix="nigh-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(chromium)
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self._profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            self.driver = webdriver.Chrome(options=options, service=Service(str(driver)))
        except BaseException:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise
        self.driver.set_script_timeout(30)

    def get(self, url: str) -> None:
        self.driver.get(url)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def wait(self, condition: Callable[[], _T], timeout: float = 15) -> _T:
        """The first truthy value of ``condition()`` within ``timeout`` seconds."""
        result: _T = WebDriverWait(self.driver, timeout).until(lambda _: condition())
        return result

    def run(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def run_async(self, script: str, *args: Any) -> Any:
        """A script that ends by calling ``arguments[arguments.length - 1](result)``."""
        return self.driver.execute_async_script(script, *args)

    def console_errors(self) -> list[str]:
        """The browser console's errors since the last call (reading empties the log)."""
        entries: list[dict[str, Any]] = self.driver.get_log("browser")  # type: ignore[no-untyped-call]
        return [e["message"] for e in entries if e["level"] == "SEVERE"]

    def screenshot(self, element: WebElement) -> Image.Image:
        """What ``element`` shows, whole: scrolled into the window first (else it is cut)."""
        self.run("arguments[0].scrollIntoView({block: 'center'})", element)
        return Image.open(io.BytesIO(element.screenshot_as_png)).convert("RGB")

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)
