"""Headless Chromium driven over the DevTools protocol (python3-websocket).

Debian's `chromium` with --headless and --remote-debugging-port=0; the port
is read from DevToolsActivePort in its profile directory (what Chromium
writes for that purpose).  One page, attached with flatten sessions; every
event is kept so tests can look at console messages and network requests.
Protocol reference: https://chromedevtools.github.io/devtools-protocol/
"""
import json
import os
import shutil
import signal
import subprocess
import tempfile

import websocket

from serve_helpers import wait_until

CHROMIUM = shutil.which("chromium")


class Browser:
    def __init__(self, width=390, height=844):
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        args = [CHROMIUM, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-default-apps",
                "--disable-extensions", "--disable-domain-reliability", "--no-pings",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--disable-gpu",
                f"--window-size={width},{height}", "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses to run as root
        # Its temporary files (shared memory, the sound server's) go into the
        # profile, which close() removes.
        env = dict(os.environ, TMPDIR=os.path.join(self.profile, "tmp"), HOME=self.profile,
                   XDG_RUNTIME_DIR=os.path.join(self.profile, "run"), XDG_CONFIG_HOME=self.profile)
        for d in ("tmp", "run"):
            os.mkdir(os.path.join(self.profile, d), 0o700)
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True, env=env)
        self.ws = None
        try:
            port_file = os.path.join(self.profile, "DevToolsActivePort")
            wait_until("chromium's DevToolsActivePort",
                       lambda: os.path.exists(port_file) and open(port_file).read().count("\n") >= 1)
            port, path = open(port_file).read().split("\n")[:2]
            self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=60,
                                                  suppress_origin=True)
            self.next_id = 0
            self.events = []
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                self.call(f"{domain}.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                      deviceScaleFactor=2, mobile=True)
        except BaseException:
            self.close()
            raise

    def call(self, method, session=False, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            got = json.loads(self.ws.recv())
            if got.get("id") == self.next_id:
                if "error" in got:
                    raise RuntimeError(f"{method}: {got['error']}")
                return got.get("result", {})
            if "method" in got:
                self.events.append(got)

    def pump(self, seconds=0.05):
        """Read events for a moment."""
        self.ws.settimeout(seconds)
        try:
            while True:
                self.events.append(json.loads(self.ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(60)

    def wait_event(self, what, pred):
        def seen():
            self.pump()
            return next((e for e in self.events if pred(e)), None)
        return wait_until(what, seen)

    def navigate(self, url):
        self.events = []
        self.call("Page.navigate", session=True, url=url)
        self.wait_event(f"the load of {url}", lambda e: e.get("method") == "Page.loadEventFired")

    def eval(self, expr, await_promise=False):
        r = self.call("Runtime.evaluate", session=True, expression=expr, returnByValue=True,
                      awaitPromise=await_promise)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def errors(self):
        """Console errors, uncaught exceptions and log entries of level error."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(p)
            elif m == "Runtime.exceptionThrown":
                out.append(p)
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(p["entry"])
        return out

    def requests(self):
        """[(requestId, url, headers)] of every request the page made."""
        return [(e["params"]["requestId"], e["params"]["request"]["url"], e["params"]["request"]["headers"])
                for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def response(self, request_id):
        for e in self.events:
            if e.get("method") == "Network.responseReceived" and e["params"]["requestId"] == request_id:
                return e["params"]["response"]
        return None

    def screenshot(self, path):
        import base64
        data = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data["data"]))

    def close(self):
        try:
            if self.ws:
                self.ws.close()
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            # Its helpers (zygote, utility processes) share the group.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            shutil.rmtree(self.profile, ignore_errors=True)
