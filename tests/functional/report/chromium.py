"""Open a page in a real headless Chromium over the DevTools protocol.

Uses the ``websocket-client`` package for the DevTools websocket; the
protocol messages themselves are a handful of JSON commands.
"""

from __future__ import annotations

import base64
import json
import pathlib
import shutil
import subprocess
import tempfile
import time

import websocket

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--window-size=1280,2000",
    "--remote-allow-origins=*",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class PageReport:
    def __init__(self) -> None:
        self.console_errors: list[str] = []
        self.exceptions: list[str] = []
        self.dialogs: list[str] = []
        self.images: list[dict] = []
        self.screenshot: bytes = b""


class Chromium:
    """``with Chromium() as browser: report = browser.open(url)``."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self.process = None
        self.socket = None
        self.next_id = 0

    def __enter__(self) -> Chromium:
        binary = chromium_path()
        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = pathlib.Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = []
        while not targets and time.monotonic() < deadline:
            import urllib.request

            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/json/list"
            ) as response:
                targets = [
                    t for t in json.load(response) if t["type"] == "page"
                ]
            time.sleep(0.1)
        self.socket = websocket.create_connection(
            targets[0]["webSocketDebuggerUrl"], timeout=60
        )
        return self

    def __exit__(self, *exc) -> None:
        if self.socket is not None:
            self.socket.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _send(self, method: str, **params) -> int:
        self.next_id += 1
        self.socket.send(
            json.dumps(
                {"id": self.next_id, "method": method, "params": params}
            )
        )
        return self.next_id

    def _call(self, method: str, report: PageReport, **params) -> dict:
        wanted = self._send(method, **params)
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._event(message, report)

    def _event(self, message: dict, report: PageReport) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in (
            "error",
            "assert",
        ):
            report.console_errors.append(
                " ".join(str(a.get("value")) for a in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            report.exceptions.append(
                params["exceptionDetails"].get("text", "exception")
            )
        elif (
            method == "Log.entryAdded" and params["entry"]["level"] == "error"
        ):
            report.console_errors.append(params["entry"].get("text", ""))
        elif method == "Page.javascriptDialogOpening":
            report.dialogs.append(params.get("message", ""))
            self._send("Page.handleJavaScriptDialog", accept=True)

    def open(self, url: str, settle: float = 1.0) -> PageReport:
        report = PageReport()
        for domain in ("Page", "Runtime", "Log"):
            self._call(f"{domain}.enable", report)
        self._call("Page.navigate", report, url=url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self._call(
                "Runtime.evaluate",
                report,
                expression="document.readyState",
                returnByValue=True,
            )["result"].get("value")
            if state == "complete":
                break
            time.sleep(0.1)
        # Give inline handlers (e.g. a planted onerror) time to fire.
        end = time.monotonic() + settle
        while time.monotonic() < end:
            self._call(
                "Runtime.evaluate", report, expression="1", returnByValue=True
            )
            time.sleep(0.1)
        report.images = self._call(
            "Runtime.evaluate",
            report,
            expression="Array.from(document.images).map(i => ({src: "
            "i.src.slice(0, 40), complete: i.complete, width: "
            "i.naturalWidth}))",
            returnByValue=True,
        )["result"]["value"]
        shot = self._call("Page.captureScreenshot", report, format="png")
        report.screenshot = base64.b64decode(shot["data"])
        return report

    def evaluate(self, expression: str):
        return self._call(
            "Runtime.evaluate",
            PageReport(),
            expression=expression,
            returnByValue=True,
        )["result"].get("value")
