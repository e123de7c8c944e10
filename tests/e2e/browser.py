"""Headless Chromium driven over the DevTools protocol, on a pipe: no websocket
library, no driver binary, only the standard library.

``--remote-debugging-pipe`` makes Chromium read commands from fd 3 and write
replies and events to fd 4, each a JSON message ended by a NUL byte.  A shell
moves our pipes (its stdin and stdout) onto those descriptors before it execs
the browser.  Enough of the protocol for a person's actions: open a page, fill
a field, click and wait for the next page, read the DOM.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

_LAUNCH = 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null'


class BrowserError(Exception):
    """Raised when the browser refuses a command, a script throws, or it stops answering."""


class Browser:
    """One headless Chromium process; ``page()`` opens a tab.  Use as a context manager."""

    def __init__(self, executable: str, profile: Path, timeout: float = 30) -> None:
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "about:blank",
        ]
        self.timeout = timeout
        self.process = subprocess.Popen(
            ["/bin/sh", "-c", _LAUNCH, executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._buffer = b""
        self._events: list[dict[str, Any]] = []
        self._last_id = 0

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):  # gone already
            self.call("Browser.close", timeout=5)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def page(self) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        return Page(self, attached["sessionId"])

    # -- protocol ----------------------------------------------------------------
    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send a command and return its result; events read meanwhile are kept."""
        self._last_id += 1
        message: dict[str, Any] = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        assert self.process.stdin is not None
        os.write(self.process.stdin.fileno(), json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read(deadline, method)
            if reply.get("id") == self._last_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return dict(reply["result"])
            self._events.append(reply)

    def forget(self, event: str, session: str) -> None:
        self._events = [
            e for e in self._events if (e.get("method"), e.get("sessionId")) != (event, session)
        ]

    def wait_for(self, event: str, session: str) -> dict[str, Any]:
        """The next ``event`` of ``session`` (one already received counts)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for index, seen in enumerate(self._events):
                if (seen.get("method"), seen.get("sessionId")) == (event, session):
                    return self._events.pop(index)
            self._events.append(self._read(deadline, event))

    def _read(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        assert self.process.stdout is not None
        pipe = self.process.stdout.fileno()
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([pipe], [], [], left)[0]:
                raise BrowserError(f"no answer from the browser while waiting for {waiting_for}")
            chunk = os.read(pipe, 1 << 16)
            if not chunk:
                raise BrowserError(f"the browser exited while waiting for {waiting_for}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return dict(json.loads(message))


class Page:
    """One tab: navigate, fill, click, read."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session
        self.call("Page.enable")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def goto(self, url: str) -> str:
        """Load ``url`` and return the DOM it rendered."""
        self._then_load(lambda: self.call("Page.navigate", {"url": url}))
        return self.html()

    def reload(self) -> str:
        self._then_load(lambda: self.call("Page.reload", {"ignoreCache": True}))
        return self.html()

    def click(self, selector: str) -> str:
        """Click the element (a submit button) and return the DOM of the page it leads to."""
        self._then_load(lambda: self.evaluate(f"{_find(selector)}.click()"))
        return self.html()

    def fill(self, selector: str, value: str) -> None:
        self.evaluate(f"{_find(selector)}.value = {json.dumps(value)}")

    def text(self, selector: str) -> str:
        """The rendered text of the first element matching ``selector``."""
        return str(self.evaluate(f"{_find(selector)}.innerText"))

    def html(self) -> str:
        return str(self.evaluate("document.documentElement.outerHTML"))

    def screenshot(self, path: Path) -> Path:
        """Save the whole page as a PNG at ``path`` (its directory is created)."""
        shot = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def evaluate(self, expression: str) -> Any:
        done = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in done:
            raise BrowserError(f"{expression}: {done['exceptionDetails'].get('exception')}")
        return done["result"].get("value")

    def _then_load(self, action: Any) -> None:
        self.browser.forget("Page.loadEventFired", self.session)
        action()
        self.browser.wait_for("Page.loadEventFired", self.session)


def _find(selector: str) -> str:
    """A JavaScript expression for the element, throwing if there is none."""
    quoted = json.dumps(selector)
    return (
        f"(document.querySelector({quoted}) || "
        f"(() => {{ throw new Error('no element ' + {quoted}); }})())"
    )
