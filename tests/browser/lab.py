"""What both browser tests do: launch Debian's Chromium, open a notebook in JupyterLab, run it."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
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
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


@contextmanager
def browser_page(errors: list, height: int = 2400):
    """A Chromium page 1280 wide whose console errors and page errors land in ``errors``.

    Tall by default, so that a page screenshot holds every output; 800 is a laptop screen.
    """
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": height})
        # Playwright's 30 s default is short on a loaded 2-core machine (a kernel start, a
        # lesson run); a wait that times out still fails, only later.
        page.set_default_timeout(90_000)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield page
        finally:
            browser.close()


def open_and_run_all(page, lab, name: str) -> None:
    """Open notebook ``name``, wait for its kernel, then click Run > Run All Cells."""
    page.goto(f"{lab.url}/lab/tree/{name}")
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
    menu(page, "Run", "Run All Cells")


def menu(page, *path: str) -> None:
    """Click through JupyterLab's menu bar, e.g. ``menu(page, "Run", "Run All Cells")``."""
    page.click(f".lm-MenuBar-itemLabel:text-is('{path[0]}')", timeout=10_000)
    for item in path[1:]:
        page.click(f".lm-Menu-itemLabel:text-is('{item}')", timeout=10_000)


def _kernels(lab) -> list:
    with urllib.request.urlopen(f"{lab.url}/api/kernels", timeout=10) as answer:
        return json.loads(answer.read())


def save(page, lab, name: str) -> dict:
    """Save the notebook on show (Ctrl+S) and wait until its file holds the widget state."""
    page.locator(f"{ACTIVE} .jp-Notebook").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    path = lab.root / name
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        saved = json.loads(path.read_text())
        if WIDGET_STATE in saved["metadata"].get("widgets", {}):
            return saved
        time.sleep(0.2)
    raise AssertionError(f"{name} was not saved with its widget state")


def close_and_reopen(page, lab, name: str) -> None:
    """Shut the notebook's kernel down, close its tab, and open it again (a fresh kernel)."""
    before = len(_kernels(lab))
    menu(page, "Kernel", "Shut Down Kernel")
    accept = page.locator(".jp-Dialog .jp-mod-accept")
    try:  # JupyterLab may ask to confirm
        accept.wait_for(timeout=3_000)
        accept.click()
    except sync_api.TimeoutError:
        pass
    deadline = time.monotonic() + 20
    while len(_kernels(lab)) >= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_kernels(lab)) < before, "the kernel did not shut down"
    panel = page.locator(ACTIVE).get_attribute("id")
    menu(page, "File", "Close Tab")
    page.wait_for_selector(f"[id='{panel}']", state="detached", timeout=10_000)
    page.goto(f"{lab.url}/lab/tree/{name}")
    page.wait_for_selector(f"{ACTIVE} .jp-Cell", timeout=30_000)
    page.wait_for_selector(
        f"{ACTIVE} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000
    )


def widget_errors(page) -> list[str]:
    """The text of every output that failed to show a widget ("Error displaying widget ...")."""
    return page.locator(f"{ACTIVE} .jp-OutputArea-output").evaluate_all(
        "outs => outs.map(o => o.innerText).filter(t => t.includes('Error displaying widget'))"
    )


def disconnected_marks(page) -> list[int]:
    """Per minigrad widget on show, how many "disconnected" marks it shows (itself included)."""
    return page.locator(f"{ACTIVE} .mg-widget").evaluate_all(
        """widgets => widgets.map(w => {
            const parts = [w, ...w.querySelectorAll('.jupyter-widgets-disconnected')];
            const marked = el => el.classList.contains('jupyter-widgets-disconnected')
                && !['none', 'normal', ''].includes(getComputedStyle(el, '::before').content);
            return parts.filter(marked).length;
        })"""
    )
