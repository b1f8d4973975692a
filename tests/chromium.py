"""Loads a page in headless Chromium and reports what a person would see.

Talks the DevTools protocol over `--remote-debugging-pipe` (fds 3/4, NUL-
separated JSON), so nothing beyond the `chromium` Debian package is needed.
Unlike scraping `--enable-logging` output, the protocol reports the level of
every console message, uncaught exceptions, failed loads (`Log.entryAdded`)
and every request the page makes, so a CDN link counts as an error too.
"""
import base64
import dataclasses
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Optional

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
INSTALL_HINT = "chromium is not installed: run `apt-get install -y chromium`"
# Runs in a tiny child: puts our pipe ends on fds 3/4, where Chromium's
# --remote-debugging-pipe expects them, then becomes Chromium.
_EXEC_ON_FDS_3_4 = (
    "import fcntl, os, sys\n"
    "r, w = (fcntl.fcntl(int(f), fcntl.F_DUPFD, 10) for f in sys.argv[1:3])\n"
    "os.dup2(r, 3)\nos.dup2(w, 4)\nos.execv(sys.argv[3], sys.argv[3:])\n")


def find_chromium() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@dataclasses.dataclass
class Page:
    errors: list  # console errors, uncaught exceptions, failed/remote loads
    text: str  # document.body.innerText: what is rendered, not hidden
    html: str  # the DOM after load
    probes: dict  # results of the JS expressions passed to `load`


class _Session:
    def __init__(self, exe: str, profile: str):
        to_chrome, self._to_w = os.pipe()
        self._from_r, from_chrome = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _EXEC_ON_FDS_3_4, str(to_chrome),
             str(from_chrome), exe, *FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_chrome, from_chrome), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer, self._id, self.events = b"", 0, []

    def _read(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer in time")
            if select.select([self._from_r], [], [], left)[0]:
                chunk = os.read(self._from_r, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium exited")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: Optional[str] = None,
             timeout: float = 30, **params) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self._read(deadline))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_w)
        os.close(self._from_r)


def _errors(events: list) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append("uncaught: " + details.get("exception", {}).get(
                "description", details.get("text", "")))
        elif (method == "Runtime.consoleAPICalled"
              and params["type"] in ("error", "assert")):
            errors.append("console.error: " + " ".join(
                str(a.get("value", a.get("description"))) for a in
                params["args"]))
        elif (method == "Log.entryAdded"
              and params["entry"]["level"] == "error"):
            entry = params["entry"]
            errors.append(f"{entry['source']}: {entry['text']} "
                          f"{entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(("file:", "data:", "about:")):
                errors.append(f"network request to {url}")
    return errors


def load(path: str, screenshot: Optional[str] = None, width: int = 1200,
         probes: Optional[dict] = None) -> Page:
    """Opens `path` (file) in headless Chromium; optionally saves a PNG."""
    exe = find_chromium()
    if exe is None:
        raise FileNotFoundError(INSTALL_HINT)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    browser = _Session(exe, profile)
    try:
        target = browser.call("Target.createTarget", url="about:blank")
        session = browser.call("Target.attachToTarget", flatten=True,
                               targetId=target["targetId"])["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable", session)
        browser.call("Emulation.setDeviceMetricsOverride", session,
                     width=width, height=900, deviceScaleFactor=1,
                     mobile=False)
        browser.events.clear()  # only the page's own events count
        browser.call("Page.navigate", session,
                     url="file://" + os.path.abspath(path))
        browser.wait_for("Page.loadEventFired")

        def evaluate(expression):
            return browser.call("Runtime.evaluate", session,
                                expression=expression,
                                returnByValue=True)["result"].get("value")

        page = Page(errors=[], text=evaluate("document.body.innerText"),
                    html=evaluate("document.documentElement.outerHTML"),
                    probes={k: evaluate(v) for k, v in (probes or {}).items()})
        if screenshot:
            height = evaluate("document.documentElement.scrollHeight")
            browser.call("Emulation.setDeviceMetricsOverride", session,
                         width=width, height=height, deviceScaleFactor=1,
                         mobile=False)
            shot = browser.call("Page.captureScreenshot", session,
                                format="png")
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        page.errors = _errors(browser.events)
        return page
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":  # python -m tests.chromium PAGE [PNG]
    result = load(sys.argv[1], screenshot=sys.argv[2] if len(sys.argv) > 2
                  else None)
    print(json.dumps({"errors": result.errors, "chars": len(result.text)}))
