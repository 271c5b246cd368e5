"""The tape lesson (2) and the training lesson (9) in a real JupyterLab: run, step, save, reopen.

What a learner does: open the lesson, run every cell, use the widgets, save,
come back another day. The tests check that every cell ran without an
error; that TapeViewer draws torch's gradients on the graph as it steps
backward; that lesson 9's live widgets end at the loop's last step, with the
numbers it printed; and that after the notebook is saved, its kernel shut
down and the notebook reopened, every widget is drawn again from the saved
state, with no "Error displaying widget". Screenshots go to artifacts/screenshots/.
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
    disconnected_marks,
    open_and_run_all,
    save,
    widget_errors,
)

pytestmark = pytest.mark.browser

ALL_CELLS_RAN = """() => {
    const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
    const prompts = panel ? [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')] : [];
    return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""


def run_lesson(page, lab, name: str) -> None:
    """Open a lesson, run all its cells and wait until every one has a number."""
    open_and_run_all(page, lab, name)
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


def reopen_and_check(page, lab, name: str, widgets: dict[str, int]) -> None:
    """Save, shut the kernel down, close, reopen: ``widgets`` (class: count) are all drawn."""
    saved = save(page, lab, name)
    assert saved["metadata"]["widgets"]
    close_and_reopen(page, lab, name)
    for css, count in widgets.items():
        page.locator(f"{ACTIVE} {css}").nth(count - 1).wait_for(timeout=30_000)
        assert page.locator(f"{ACTIVE} {css}").count() == count, css
    assert widget_errors(page) == []
    # Not yet connected to the new kernel: one mark on each widget, not one on every part.
    assert set(disconnected_marks(page)) == {1}
    page.screenshot(path=str(SHOTS / f"lesson_{name.split('_')[0]}_reopened.png"), full_page=True)


def grad_text(page, title: str) -> str:
    """The gradient cell of the first TapeViewer's box titled ``title``, as drawn."""
    return page.evaluate(
        """(title) => {
            const viewer = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) '
                                                  + '.mg-tape-viewer');
            const box = [...viewer.querySelectorAll('g.node')]
                .find(g => g.querySelector('text').textContent === title);
            const cell = box && box.querySelector('text.mg-grad');
            if (!cell) return 'missing';
            return cell.getBoundingClientRect().width > 0 ? cell.textContent : 'not on screen';
        }""",
        title,
    )


def torch_neuron_w_grad() -> str:
    """Lesson 2's neuron, o = tanh(sum(x * w) + b), by torch: do/dw as the box shows it."""
    x, w = torch.tensor([2.0, 0.0]), torch.tensor([-3.0, 1.0], requires_grad=True)
    torch.tanh((x * w).sum() + torch.tensor(6.88)).backward()
    return "grad [" + ", ".join(f"{float(v):.4g}" for v in w.grad) + "]"


def test_tape_lesson_steps_backward_on_the_graph_and_reopens(lessons_server):
    errors = []
    with browser_page(errors) as page:
        run_lesson(page, lessons_server, "02_the_tape.ipynb")
        viewer = page.locator(f"{ACTIVE} .mg-tape-viewer").first
        viewer.wait_for(timeout=20_000)
        # The lesson's neuron, counted by hand: the leaves x, w, b and four ops (Mul, Sum,
        # Add, Tanh), each an oval "#i Op" with its result's box "#i" below it.
        titles = viewer.locator(".mg-tape-graph svg g.node").evaluate_all(
            "nodes => nodes.map(g => g.querySelector('text').textContent)"
        )
        assert sorted(titles) == sorted(
            ["x", "w", "b", "#0 Mul", "#0", "#1 Sum", "#1", "#2 Add", "#2", "#3 Tanh", "#3"]
        )
        assert grad_text(page, "w") == "grad –"
        status = viewer.locator(".mg-status")
        viewer.locator("button.mg-backward").click()
        page.wait_for_function(
            "el => el.textContent.startsWith('backward 1 of 4')", arg=status.element_handle()
        )
        for k in (2, 3, 4):
            viewer.locator("button.mg-next").click()
            page.wait_for_function(
                f"el => el.textContent.startsWith('backward {k} of 4')",
                arg=status.element_handle(),
            )
        assert viewer.locator("button.mg-next").is_disabled()  # the last step
        expected = torch_neuron_w_grad()
        page.wait_for_function(  # the graph may arrive a moment after the status line
            """(text) => [...document.querySelectorAll('.mg-tape-viewer text.mg-grad')]
                .some(t => t.textContent === text)""",
            arg=expected,
            timeout=10_000,
        )
        assert grad_text(page, "w") == expected  # w's gradient, torch's, on the graph
        viewer.screenshot(path=str(SHOTS / "lesson_02_tape_viewer_backward.png"))
        reopen_and_check(page, lessons_server, "02_the_tape.ipynb", {".mg-tape-viewer": 2})
        # the reopened viewer is where the learner left it
        assert grad_text(page, "w") == expected
    assert errors == [], f"console errors: {errors}"


def test_training_lesson_widgets_end_at_the_last_step_and_reopen(lessons_server):
    errors = []
    with browser_page(errors) as page:
        run_lesson(page, lessons_server, "09_training_an_mlp.ipynb")
        printed = page.locator(f"{ACTIVE} .jp-OutputArea-output:has-text('epoch 8:')").inner_text()
        accuracy = float(re.search(r"epoch 8: .*test accuracy ([\d.]+)%", printed).group(1))
        monitor = page.locator(f"{ACTIVE} .mg-training-monitor").first
        summary = monitor.locator(".mg-monitor-summary").inner_text()
        steps = int(re.match(r"step (\d+):", summary).group(1))
        shown = float(re.search(r"test_accuracy ([\d.]+)", summary).group(1))
        assert steps == 8 * 23 and round(100 * shown, 1) == accuracy  # not a stale redraw
        flow = page.locator(f"{ACTIVE} .mg-gradient-flow").first
        title = flow.locator("svg .mg-title").first.text_content()
        assert title == f"mean |g|, step {steps}"
        assert flow.locator("svg image.mg-heatmap").count() == 1
        flow.screenshot(path=str(SHOTS / "lesson_09_gradient_flow.png"))
        monitor.screenshot(path=str(SHOTS / "lesson_09_training_monitor.png"))
        reopen_and_check(page, lessons_server, "09_training_an_mlp.ipynb",
                         {".mg-training-monitor": 1, ".mg-gradient-flow": 1})  # fmt: skip
        summary = page.locator(f"{ACTIVE} .mg-training-monitor .mg-monitor-summary").inner_text()
        assert summary.startswith(f"step {steps}:")
    assert errors == [], f"console errors: {errors}"
