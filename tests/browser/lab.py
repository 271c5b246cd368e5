"""What both browser tests do: launch Debian's Chromium, open a notebook in JupyterLab, run it."""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path

from playwright import sync_api

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

# Several notebooks may be open one after the other: look only at the one on show.
ACTIVE = ".jp-NotebookPanel:not(.lm-mod-hidden)"


@contextmanager
def browser_page(errors: list):
    """A tall Chromium page whose console errors and page errors land in ``errors``."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 2400})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield page
        finally:
            browser.close()


def open_and_run_all(page, url: str, name: str) -> None:
    """Open notebook ``name``, wait for its kernel, then click Run > Run All Cells."""
    page.goto(f"{url}/lab/tree/{name}")
    page.wait_for_selector(f"{ACTIVE} .jp-Cell", timeout=30_000)
    accept = page.locator(".jp-Dialog .jp-mod-accept")  # a fresh server may ask for a kernel
    try:
        accept.wait_for(timeout=5_000)
        accept.click()
    except sync_api.TimeoutError:
        pass
    page.wait_for_selector(
        f"{ACTIVE} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
    )
    page.click(".lm-MenuBar-itemLabel:text-is('Run')", timeout=10_000)
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')", timeout=10_000)
