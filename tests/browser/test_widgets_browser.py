"""Every widget in a real JupyterLab and Chromium: run the tour, check each DOM, save, reopen.

Needs Debian's chromium (``./run tests`` installs it) and the playwright
Python package; no Playwright-downloaded browser. Screenshots go to
artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import re

import pytest
import torch

from tests.browser.lab import (
    ACTIVE,
    SHOTS,
    browser_page,
    close_and_reopen,
    open_and_run_all,
    save,
    widget_errors,
)

pytestmark = pytest.mark.browser

# The tour's tape, counted by hand from its code: Linear, Tanh, Mul, Add, Sum
# are 5 op ellipses plus 5 output boxes, fc.weight and fc.bias 2 parameter
# boxes, and the data x one input box (its tape keeps its inputs).
TAPE_NODES = 13
RED = "rgb(208, 0, 0)"  # the highlight stroke, #d00000
WIDGETS = (".mg-tape-viewer", ".mg-gradient-flow", ".mg-training-monitor", ".mg-lr-explorer",
           ".mg-gradcheck-view")  # fmt: skip


def _stroke(page, suffix: str) -> str:
    return page.evaluate(
        """(suffix) => {
            const g = [...document.querySelectorAll('.mg-tape-viewer g.node')]
                .find(n => n.id.endsWith(suffix));
            return g ? getComputedStyle(g.querySelector('ellipse')).stroke : 'missing';
        }""",
        suffix,
    )


def _grad_cell(page, box: str, expected: str) -> str:
    """The gradient text drawn in a value box of the TapeViewer's graph, once it is ``expected``.

    (The status line may arrive a moment before the redrawn graph: wait for the graph.)
    """
    try:
        page.wait_for_function(
            """([box, text]) => [...document.querySelectorAll(
                `.mg-tape-viewer [id$='${box}_grad']`)].some(t => t.textContent === text)""",
            arg=[box, expected],
            timeout=10_000,
        )
    except Exception:
        pass  # the comparison below says what is there instead
    return page.locator(f".mg-tape-viewer [id$='{box}_grad']").text_content()


def _tour_dloss_dh() -> str:
    """d loss / d h for the tour's tape, by torch: loss = sum(h * h + h), h = tanh(x w^T + b)."""
    g = torch.Generator().manual_seed(0)
    x, w, b = (
        torch.randn(4, 3, generator=g),
        torch.randn(5, 3, generator=g),
        torch.randn(5, generator=g),
    )
    h = torch.tanh(x @ w.T + b).requires_grad_()
    (h * h + h).sum().backward()
    return f"μ {float(h.grad.mean()):.3g} ± {float(h.grad.std()):.3g}"


TOUR_DLOSS_DH = _tour_dloss_dh()


def _panel_title(page, widget: str, index: int = 0) -> str:
    return page.locator(f"{ACTIVE} {widget} svg .mg-panel .mg-title").nth(index).text_content()


def test_widgets_tour_in_jupyterlab_and_after_a_reopen(jupyter_server):
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
        assert _stroke(page, "_n0") == RED
        assert viewer.locator("button.mg-prev").is_disabled()  # at the start
        page.click(".mg-tape-viewer button.mg-next")
        # The kernel answered the click: it moved the status, the slider and the highlight.
        page.wait_for_selector(".mg-tape-viewer .mg-status:has-text('forward 2 of 5')")
        assert viewer.locator(".mg-slider .widget-readout").inner_text() == "forward 2 of 5"
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
        # Backward: the gradient arriving at each op's output is drawn on the graph.
        page.click(".mg-tape-viewer button.mg-backward")
        page.wait_for_selector(".mg-tape-viewer .mg-status:has-text('backward 1 of 5')")
        assert _grad_cell(page, "v4_0", "grad 1") == "grad 1"  # the loss: d loss / d loss
        assert _grad_cell(page, "v1_0", "grad –") == "grad –"  # not reached yet
        for k in range(2, 5):
            page.click(".mg-tape-viewer button.mg-next")
            page.wait_for_selector(f".mg-tape-viewer .mg-status:has-text('backward {k} of 5')")
        # at Tanh, h = #1 holds d loss / dh = 2h + 1 over its three uses, as torch says
        expected = f"grad {TOUR_DLOSS_DH}"
        assert _grad_cell(page, "v1_0", expected) == expected
        # ... marked, in red, as the gradient arriving now
        page.wait_for_function(
            """() => [...document.querySelectorAll(".mg-tape-viewer [id$='v1_0_grad']")]
                .some(t => getComputedStyle(t).fill === 'rgb(192, 57, 43)')""",
            timeout=10_000,
        )
        viewer.screenshot(path=str(SHOTS / "tape_viewer_backward.png"))
        # On a laptop screen, 1280x800: the graph and the details side by side, the whole
        # widget on the screen at once.
        page.set_viewport_size({"width": 1280, "height": 800})
        viewer.scroll_into_view_if_needed()
        viewer.evaluate("el => el.scrollIntoView({block: 'start'})")
        box = viewer.bounding_box()
        graph = viewer.locator(".mg-tape-graph").bounding_box()
        details = viewer.locator(".mg-node-details").bounding_box()
        page.screenshot(path=str(SHOTS / "tape_viewer_1280x800.png"))
        page.set_viewport_size({"width": 1280, "height": 2400})
        assert box["height"] <= 700 and box["x"] + box["width"] <= 1280, box
        assert details["x"] >= graph["x"] + graph["width"] - 1  # beside the graph, not below
        assert details["y"] < graph["y"] + graph["height"]

        # The training widgets were shown before the loop and followed it to its last step.
        printed = page.locator(".jp-OutputArea-output:has-text('trained 30 steps')").inner_text()
        last_loss = re.search(r"last loss (\S+)", printed).group(1)
        summary = page.locator(".mg-training-monitor .mg-monitor-summary").inner_text()
        assert summary.startswith("step 30: loss ") and float(summary.split()[3][:-1]) == (
            pytest.approx(float(last_loss), abs=1e-4)
        )
        assert page.locator(".mg-training-monitor svg polyline.mg-series").count() >= 3
        assert _panel_title(page, ".mg-gradient-flow") == "mean |g|, step 30"
        assert page.locator(".mg-gradient-flow svg image.mg-heatmap").count() == 1
        page.locator(".mg-gradient-flow").screenshot(path=str(SHOTS / "gradient_flow.png"))
        page.locator(".mg-training-monitor").screenshot(path=str(SHOTS / "training_monitor.png"))
        # The heatmap and its colour bar fit the output: the picture is no wider than it.
        right = page.locator(".mg-gradient-flow .mg-flow-plot svg").evaluate(
            "svg => [svg.getBoundingClientRect().right, "
            "svg.closest('.jp-OutputArea-output').getBoundingClientRect().right]"
        )
        assert right[0] <= right[1] + 1, right
        # The statistic menu is linked to the widget's trait: the kernel redraws.
        page.locator(".mg-gradient-flow .mg-statistic select").select_option(label="norm ||g||")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.mg-gradient-flow .mg-title')]"
            ".some(t => t.textContent === 'norm ||g||, step 30')"
        )

        # LRScheduleExplorer: one key press on the epochs slider redraws the curve ...
        summary = page.locator(".mg-lr-explorer .mg-lr-summary")
        assert "at epoch 59" in summary.inner_text()
        handle = page.locator(".mg-lr-explorer .mg-slider-epochs .noUi-handle")
        handle.focus()
        handle.press("ArrowRight")
        page.wait_for_selector(".mg-lr-explorer .mg-lr-summary:has-text('at epoch 60')")
        # ... and the number box sets the epochs exactly.
        box = page.locator(".mg-lr-explorer .mg-epochs-box input")
        box.fill("137")
        box.press("Enter")
        page.wait_for_selector(".mg-lr-explorer .mg-lr-summary:has-text('at epoch 136')")
        assert page.locator(".mg-lr-explorer .mg-slider-epochs .widget-readout").inner_text() == (
            "137"
        )
        page.locator(".mg-lr-explorer").screenshot(path=str(SHOTS / "lr_explorer.png"))
        assert page.locator(".mg-gradcheck-view img").evaluate("img => img.naturalWidth") > 100
        page.screenshot(path=str(SHOTS / "widgets_tour_page.png"))

        # Save, close (the kernel shut down), reopen: every widget is back, drawn from the
        # state saved in the notebook, as it was.
        saved = save(page, jupyter_server, "widgets_tour.ipynb")
        assert saved["metadata"]["widgets"]
        close_and_reopen(page, jupyter_server, "widgets_tour.ipynb")
        for css in WIDGETS:
            page.locator(f"{ACTIVE} {css}").first.wait_for(timeout=20_000)
        assert widget_errors(page) == []
        assert page.locator(f"{ACTIVE} .mg-tape-viewer .mg-tape-graph svg g.node").count() == (
            TAPE_NODES
        )
        assert _panel_title(page, ".mg-gradient-flow") == "norm ||g||, step 30"
        assert (
            "at epoch 136" in page.locator(f"{ACTIVE} .mg-lr-explorer .mg-lr-summary").inner_text()
        )
        page.screenshot(path=str(SHOTS / "widgets_tour_reopened.png"))
    assert errors == [], f"console errors: {errors}"
