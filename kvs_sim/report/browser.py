"""Open a report in headless Chromium: wait until it has drawn, read its console, screenshot.

Theory of operation
-------------------
The tests and ``bench/report_load.py`` look at reports the way a reader does, in
a real browser: Debian's ``chromium`` driven through ``chromium-driver`` by
selenium (no browser is downloaded).  :func:`chromium_missing` says why a
browser cannot be had (the tests skip with that reason).  :class:`Browser`
starts one headless Chromium with a fresh profile and flags fit for a machine
with no GPU and no network (WebGL runs on SwiftShader, in software); its
:meth:`~Browser.open` loads a page, waits for the page's script to set
``body[data-ready]`` and returns how long that took; :meth:`~Browser.errors`
returns the console errors seen since the last call.  Use it as a context
manager: the browser is always stopped.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--enable-unsafe-swiftshader",
    "--window-size=1400,1000",
)


def chromium_missing() -> str | None:
    """None if headless Chromium can be driven here, else why not."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install 'kvs-sim[test]')"
    return None


class Browser:
    """One headless Chromium (see the module docstring)."""

    def __init__(self, *, width: int = 1400, height: int = 1000) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self._profile = tempfile.mkdtemp(prefix="kvs-sim-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={width},{height}")
        options.add_argument(f"--user-data-dir={self._profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        options.page_load_strategy = "none"  # open() polls the page's own ready flag
        try:
            self.driver: Any = webdriver.Chrome(
                service=Service(executable_path=CHROMEDRIVER), options=options
            )
        except Exception:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    def open(self, page: str | Path, timeout: float = 120.0, *, query: str = "") -> float:
        """Load ``page`` (with ``?query`` when given) and wait until its script says
        it has drawn; seconds taken.

        RuntimeError if the page reports an error or is not ready in ``timeout``."""
        from selenium.common.exceptions import TimeoutException

        url = Path(page).resolve().as_uri() + (f"?{query}" if query else "")
        start = time.perf_counter()
        self.driver.get(url)
        while True:
            try:
                state = self.driver.execute_script(
                    "return document.body ? document.body.dataset.ready || '' : ''"
                )
            except TimeoutException:  # the page is still busy drawing
                state = ""
            if state == "1":
                return time.perf_counter() - start
            if state == "error":
                raise RuntimeError(f"{page}: the page failed to draw: {self.errors()}")
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{page}: not drawn after {timeout:g} s")
            time.sleep(0.05)

    def errors(self) -> list[str]:
        """Console errors (level SEVERE) since the last call."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def js(self, script: str, *args: Any) -> Any:
        """Run ``script`` in the page (``return ...`` gives a value back)."""
        return self.driver.execute_script(script, *args)

    def screenshot(self, path: str | Path, *, full_page: bool = True) -> Path:
        """A PNG of the page (all of it, by resizing the window to its height)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        if full_page:
            height = int(self.js("return document.documentElement.scrollHeight"))
            width = int(self.js("return window.innerWidth"))
            self.driver.set_window_size(width, min(height + 40, 16000))
            time.sleep(0.5)
        self.driver.save_screenshot(str(out))
        return out
