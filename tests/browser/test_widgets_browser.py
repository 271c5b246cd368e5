"""Every widget in a real JupyterLab and Chromium: run the tour notebook, check each DOM.

Needs Debian's chromium (``./run tests`` installs it) and the playwright
Python package; no Playwright-downloaded browser. Screenshots go to
artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.lab import SHOTS, browser_page, open_and_run_all

pytestmark = pytest.mark.browser

# The tour's tape, counted by hand from its code: Linear, Tanh, Mul, Add, Sum
# are 5 op ellipses plus 5 output boxes, fc.weight and fc.bias 2 parameter
# boxes, and the data x one input box (its tape keeps its inputs).
TAPE_NODES = 13
RED = "rgb(208, 0, 0)"  # the highlight stroke, #d00000


def _stroke(page, suffix: str) -> str:
    return page.evaluate(
        """(suffix) => {
            const g = [...document.querySelectorAll('.mg-tape-viewer g.node')]
                .find(n => n.id.endsWith(suffix));
            return g ? getComputedStyle(g.querySelector('ellipse')).stroke : 'missing';
        }""",
        suffix,
    )


def test_widgets_tour_in_jupyterlab(jupyter_server):
    errors = []
    with browser_page(errors) as page:
        open_and_run_all(page, jupyter_server, "widgets_tour.ipynb")
        try:
            page.wait_for_selector(".jp-OutputArea-output:has-text('TOUR-DONE')", timeout=60_000)
        finally:
            page.screenshot(path=str(SHOTS / "widgets_tour_after_run.png"))

        # TapeViewer: inline SVG with every node, buttons, the first node highlighted.
        viewer = page.locator(".mg-tape-viewer")
        viewer.wait_for(timeout=20_000)
        assert page.locator(".mg-tape-viewer .mg-tape-graph svg g.node").count() == TAPE_NODES
        assert page.locator(".mg-tape-viewer button.mg-next").count() == 1
        assert page.locator(".mg-tape-viewer button.mg-prev").count() == 1
        assert page.locator(".mg-tape-viewer .widget-slider").count() == 1
        assert _stroke(page, "_n0") == RED
        viewer.screenshot(path=str(SHOTS / "tape_viewer_step0.png"))
        page.click(".mg-tape-viewer button.mg-next")
        # The kernel answered the click: it moved the status and the highlight.
        page.wait_for_selector(".mg-tape-viewer .mg-status:has-text('forward 2 of 5')")
        page.wait_for_function(
            """() => {
                const g = [...document.querySelectorAll('.mg-tape-viewer g.node')]
                    .find(n => n.id.endsWith('_n1'));
                return g && getComputedStyle(g.querySelector('ellipse')).stroke
                    === 'rgb(208, 0, 0)';
            }""",
            timeout=10_000,
        )
        assert _stroke(page, "_n0") != RED
        current = page.locator(".mg-tape-viewer .mg-tape-table tr.mg-current").inner_text()
        assert re.match(r"1\s+Tanh", current)
        viewer.screenshot(path=str(SHOTS / "tape_viewer_step1.png"))

        # draw_tape: a plain SVG output, shown as an image.
        svg_images = page.locator(".jp-OutputArea-output img[src^='data:image/svg+xml']")
        assert svg_images.count() >= 1
        svg_images.first.screenshot(path=str(SHOTS / "draw_tape.png"))

        # The plots are images with real pixels.
        for css, count in (
            (".mg-gradient-flow", 2),
            (".mg-training-monitor", 1),
            (".mg-lr-explorer", 1),
            (".mg-gradcheck-view", 1),
        ):
            widget = page.locator(css)
            widget.wait_for(timeout=20_000)
            images = page.locator(f"{css} img")
            assert images.count() == count, css
            for i in range(count):
                assert images.nth(i).evaluate("img => img.naturalWidth") > 100, css
            widget.screenshot(path=str(SHOTS / f"{css[4:].replace('-', '_')}.png"))
        assert "step 6" in page.locator(".mg-gradient-flow .mg-flags").inner_text()

        # LRScheduleExplorer: one key press on the epochs slider redraws the curve.
        summary = page.locator(".mg-lr-explorer .mg-lr-summary")
        assert "at epoch 59" in summary.inner_text()
        handle = page.locator(".mg-lr-explorer .mg-slider-epochs .noUi-handle")
        handle.focus()
        handle.press("ArrowRight")
        page.wait_for_selector(".mg-lr-explorer .mg-lr-summary:has-text('at epoch 60')")
        readout = page.locator(".mg-lr-explorer .mg-slider-epochs .widget-readout").inner_text()
        assert readout.strip() == "61"
        page.locator(".mg-lr-explorer").screenshot(path=str(SHOTS / "lr_explorer_moved.png"))
        page.screenshot(path=str(SHOTS / "widgets_tour_page.png"))
    assert errors == [], f"console errors: {errors}"
