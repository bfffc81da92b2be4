"""A headless Chromium driven over the DevTools protocol on a pipe, for tests and benchmarks of HTML pages.

Standard library only: Chromium runs with `--remote-debugging-pipe`, reading JSON commands on fd 3 and
writing replies and events on fd 4 (each message ends with a NUL byte). Nothing is downloaded and no
port is opened. Console errors, uncaught exceptions and browser log errors (failed loads, blocked
content) are collected in `Browser.errors`.

    with Browser() as browser:
        browser.open(Path("report.html"))
        browser.evaluate("document.querySelectorAll('.row').length")
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

#: Flags that work on these machines (no GPU, no sandbox privileges, no network chatter).
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
)


def find_chromium() -> str | None:
    """Path of a Chromium / Chrome executable ($AIR_CHROMIUM first), or None."""
    explicit = os.environ.get("AIR_CHROMIUM")
    if explicit:
        return explicit if os.path.isfile(explicit) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


def _high_fd(fd: int) -> int:
    """A copy of `fd` numbered 10 or more (so the child's 3<& / 4>& redirections cannot clobber it)."""
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """One headless Chromium with one page; close it (or use `with`) to end the process."""

    def __init__(self, executable: str | None = None, *, width: int = 1280, height: int = 900,
                 timeout_s: float = 60.0) -> None:
        executable = executable or find_chromium()
        if not executable:
            raise BrowserError("No Chromium found. Expected `chromium` on PATH (Debian: apt-get install chromium).")
        self.timeout_s = timeout_s
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._profile = tempfile.mkdtemp(prefix="air-chromium-")
        to_chrome_r, self._to_chrome = (_high_fd(fd) for fd in os.pipe())
        self._from_chrome, from_chrome_w = (_high_fd(fd) for fd in os.pipe())
        args = [*CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", f"--window-size={width},{height}",
                "--remote-debugging-pipe", "about:blank"]
        # bash puts the pipe ends on fds 3 and 4, where --remote-debugging-pipe expects them (dash's
        # redirections take single-digit fds only, and ours are >= 10)
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        self._log = Path(self._profile) / "chromium.log"
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen([shutil.which("bash") or "/bin/bash", "-c", script, executable, *args],
                                          pass_fds=(to_chrome_r, from_chrome_w),
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict] = []
        try:
            targets = self._call("Target.getTargets")["targetInfos"]
            page = next(t for t in targets if t.get("type") == "page")
            self._session = self._call("Target.attachToTarget", {"targetId": page["targetId"], "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable")
            self.call("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        except BaseException:
            self.close()
            raise

    # -- protocol -------------------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer within {self.timeout_s} s.")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise BrowserError(f"Chromium closed the DevTools pipe (did it crash?): {self._log_tail()}")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def _handle_event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params") or {}
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails") or {}
            text = (details.get("exception") or {}).get("description") or details.get("text") or "exception"
            self.errors.append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args") or [])
            if params.get("type") in ("error", "assert"):
                self.errors.append(f"console.{params.get('type')}: {text}")
            elif params.get("type") == "warning":
                self.warnings.append(text)
        elif method == "Log.entryAdded":
            entry = params.get("entry") or {}
            if entry.get("level") == "error":
                self.errors.append(f"log: {entry.get('text')} {entry.get('url') or ''}".strip())
            elif entry.get("level") == "warning":
                self.warnings.append(str(entry.get("text")))
        self._events.append(message)

    def _call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._to_chrome, json.dumps(message).encode("utf-8") + b"\0")
        except BrokenPipeError as exc:
            raise BrowserError(f"Chromium is gone (exit code {self._proc.poll()}): {self._log_tail()}") from exc
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error']}")
                return reply.get("result") or {}
            self._handle_event(reply)

    def _log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace")[-1500:].strip() or "no output"
        except OSError:
            return "no output"

    def call(self, method: str, params: dict | None = None) -> dict:
        """Send one DevTools command to the page and return its result."""
        return self._call(method, params, self._session)

    def _wait_event(self, name: str, deadline: float) -> dict:
        for k, event in enumerate(self._events):
            if event.get("method") == name:
                return self._events.pop(k)
        while True:
            message = self._read_message(deadline)
            if "id" in message:
                continue
            self._handle_event(message)
            if message.get("method") == name:
                self._events.pop()
                return message

    # -- page -----------------------------------------------------------------------------------
    def open(self, target: str | os.PathLike) -> float:
        """Load a URL or a local file and wait for its load event; returns the seconds it took."""
        url = target if isinstance(target, str) and "://" in target else Path(target).resolve().as_uri()
        self._events = [e for e in self._events if e.get("method") != "Page.loadEventFired"]
        start = time.perf_counter()
        reply = self.call("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise BrowserError(f"cannot open {url}: {reply['errorText']}")
        self._wait_event("Page.loadEventFired", time.monotonic() + self.timeout_s)
        return time.perf_counter() - start

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"JavaScript error in {expression[:80]!r}: "
                               f"{(details.get('exception') or {}).get('description') or details.get('text')}")
        return (result.get("result") or {}).get("value")

    def wait_for(self, expression: str, timeout_s: float | None = None) -> Any:
        """Poll `expression` until it is truthy; returns its value."""
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression!r}")
            time.sleep(0.05)

    def screenshot(self, path: str | os.PathLike | None = None, *, full_page: bool = False) -> bytes:
        """A PNG of the viewport (or the whole page); written to `path` when given."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", params)["data"])
        if path is not None:
            Path(path).write_bytes(data)
        return data

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            try:
                self._call("Browser.close")
            except (BrowserError, OSError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for fd in (getattr(self, "_to_chrome", None), getattr(self, "_from_chrome", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to_chrome = self._from_chrome = None
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
