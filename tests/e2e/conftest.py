"""Browser tests: the app on a loopback port, Debian's chromium through Playwright, a few shared steps."""

import shutil
import threading

import pytest
from werkzeug.serving import make_server

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PASSWORD = "e2e-password-123"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# axe-core (vendored from npm) over the whole page; the CSP forbids eval, so this runs as a page function.
# Each violation as "id: help", and where (the first three elements' selectors), to find it from a failed run.
AXE = (
    "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => v.id + ': ' + v.help"
    " + ' @ ' + v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').slice(0, 160))"
    ".join(' | ')))"
)


@pytest.fixture
def live(ctx):
    """The app served on a loopback port for the browser."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    server = make_server("127.0.0.1", 0, ctx, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield instance
        instance.close()


def sign_in(page, base, username):
    """Sign an officer in through /login."""
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit], form button.btn-success")


def watch(page):
    """Collect CSP refusals, failed requests and script errors on a page."""
    problems = []
    page.on("console", lambda msg: problems.append(msg.text[:160]) if "Content Security Policy" in msg.text else None)
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 and "favicon" not in r.url else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)[:160]))
    return problems


def axe_violations(page, base):
    """Run axe-core on the current page; return its violations (id: help @ where).

    The pointer is moved off the page and the focus taken away first, and Bootstrap's 0.15 s colour
    transitions are let finish: a button still hovered after a click is measured half-way between two
    colours otherwise (a colour-contrast "violation" that depends on timing).
    """
    page.mouse.move(0, 0)
    page.evaluate("document.activeElement && document.activeElement.blur && document.activeElement.blur()")
    page.wait_for_timeout(300)
    page.add_script_tag(url=f"{base}/static/vendor/axe.min.js")
    return page.evaluate(AXE)
