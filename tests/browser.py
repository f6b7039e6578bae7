"""Headless Chromium driven over the DevTools protocol (through a pipe: the standard library only), to look at a
page as a person would on a given screen: a desktop window or a phone's viewport (which Chromium's command line
cannot give: its windows are at least 500 px wide)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

# What is cut off: every element (outside a horizontally scrolling box, which a reader can scroll) that reaches
# past the viewport's left or right edge, and the page's own width.
LAYOUT_CHECK = """(() => {
  const width = document.documentElement.clientWidth, outside = [];
  const scrollers = [...document.querySelectorAll('*')]
    .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX));
  for (const el of document.body.querySelectorAll('*')) {
    if (scrollers.some(s => s !== el && s.contains(el))) continue;
    const r = el.getBoundingClientRect(), style = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || style.visibility === 'hidden'
        || r.right < -500) continue;  // Plotly's off-screen ruler
    const name = `${el.tagName.toLowerCase()}.${el.getAttribute('class') || ''}`;
    if (r.right > width + 1 || r.left < -1) outside.push(`${name} ${Math.round(r.left)}..${Math.round(r.right)}`);
    else if (el instanceof HTMLElement && style.overflowX === 'visible' && el.scrollWidth > el.clientWidth + 1
             && r.left + el.scrollWidth > width + 1)
      outside.push(`${name}: its text runs to ${Math.round(r.left + el.scrollWidth)}`);
  }
  return {width, scrollWidth: document.documentElement.scrollWidth,
          height: document.documentElement.scrollHeight, outside};
})()"""


class Browser:
    """One headless Chromium; `open` a page at a viewport size, `evaluate` JavaScript in it, `screenshot` it."""

    def __init__(self, profile: Path):
        if CHROMIUM is None:
            raise RuntimeError("no chromium on PATH")
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()

        def pipes() -> None:  # Chromium reads commands on fd 3 and writes replies on fd 4
            # (the other descriptors are close-on-exec, as Python opens them, so only these two reach Chromium)
            os.dup2(to_chrome, 100)  # by way of free numbers: either end may itself be 3 or 4
            os.dup2(from_chrome, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-pipe",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            close_fds=False,
            preexec_fn=pipes,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._id = 0
        self.session = ""

    def close(self) -> None:
        """End the browser (its process only)."""
        for fd in (self._write, self._read):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its pipe")
            self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(text)

    def send(self, method: str, timeout: float = 60, **params: Any) -> dict:
        """Call one DevTools method (in the page's session once a page is open); its result."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str, width: int, height: int, mobile: bool = False, settle: float = 2.0) -> None:
        """Load `url` in a viewport of `width` × `height` CSS pixels (a phone's when `mobile`), scripts run."""
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.2)
        time.sleep(settle)  # Plotly draws after the load event

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"JavaScript failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = True) -> None:
        """A PNG of the viewport, or of the whole page at the viewport's width."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.evaluate("[document.documentElement.clientWidth, document.documentElement.scrollHeight]")
            params.update(
                captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
            )
        data = self.send("Page.captureScreenshot", **params)["data"]
        Path(path).write_bytes(base64.b64decode(data))


def look_at(url: str, width: int, height: int, mobile: bool, shot: Path | None = None) -> dict:
    """Open `url` at a viewport size; what LAYOUT_CHECK finds (and a full-page screenshot into `shot`)."""
    with (
        tempfile.TemporaryDirectory(prefix="codesign-chromium-", ignore_cleanup_errors=True) as profile,
        Browser(Path(profile)) as browser,
    ):
        browser.open(url, width, height, mobile)
        found = browser.evaluate(LAYOUT_CHECK)
        found["title"] = browser.evaluate("document.title")
        if shot is not None:
            browser.screenshot(shot)
        return found
