"""The tape lesson (2) and the gradient-flow lesson (9), opened and run in a real JupyterLab.

What a learner does first: open the lesson, run every cell, look at the
widgets. The test checks that every cell ran without an error, that the
lesson's widgets are on the page (TapeViewer's graph answers a click on
"next"; GradientFlow's plots are images with pixels), and that the browser
logged no error. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import pytest

from tests.browser.lab import ACTIVE, SHOTS, browser_page, open_and_run_all

pytestmark = pytest.mark.browser

ALL_CELLS_RAN = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const prompts = panel ? [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')] : [];
    return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


def run_lesson(page, url: str, name: str) -> None:
    """Open a lesson, run all its cells and wait until every one has a number."""
    open_and_run_all(page, url, name)
    idle = f"{ACTIVE} .jp-Notebook-ExecutionIndicator[data-status='idle']"
    try:
        page.wait_for_function(ALL_CELLS_RAN, timeout=150_000)
        page.wait_for_selector(idle)
    finally:
        page.screenshot(path=str(SHOTS / f"lesson_{name.split('_')[0]}.png"), full_page=True)
    tracebacks = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
    )
    assert tracebacks.count() == 0, tracebacks.first.inner_text()


def test_tape_and_gradient_flow_lessons_in_jupyterlab(lessons_server):
    errors = []
    with browser_page(errors) as page:
        run_lesson(page, lessons_server, "02_the_tape.ipynb")
        viewer = page.locator(".mg-tape-viewer").first
        viewer.wait_for(timeout=20_000)
        # The lesson's neuron, o = tanh(sum(x * w) + b), counted by hand: the leaves x, w,
        # b, and four ops (Mul, Sum, Add, Tanh), each an ellipse "#i Op" and a box "#i".
        titles = viewer.locator(".mg-tape-graph svg g.node").evaluate_all(
            "nodes => nodes.map(g => g.querySelector('text').textContent)"
        )
        assert sorted(titles) == sorted(
            ["x", "w", "b", "#0 Mul", "#0", "#1 Sum", "#1", "#2 Add", "#2", "#3 Tanh", "#3"]
        )
        status = viewer.locator(".mg-status")
        before = status.inner_text()
        viewer.locator("button.mg-next").click()
        page.wait_for_function(
            "([el, text]) => el.textContent !== text", arg=[status.element_handle(), before]
        )
        viewer.screenshot(path=str(SHOTS / "lesson_02_tape_viewer_next.png"))

        run_lesson(page, lessons_server, "09_training_an_mlp.ipynb")
        flow = page.locator(f"{ACTIVE} .mg-gradient-flow").first
        flow.wait_for(timeout=20_000)
        assert flow.locator("svg image.mg-heatmap").count() == 1
        flow.screenshot(path=str(SHOTS / "lesson_09_gradient_flow.png"))
        monitor = page.locator(f"{ACTIVE} .mg-training-monitor").first
        assert monitor.locator("svg polyline.mg-series").count() >= 1
    assert errors == [], f"console errors: {errors}"
