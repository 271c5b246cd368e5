"""GradcheckView: analytic against numeric gradients from a gradcheck report, as heatmaps.

For each checked input: the tape's (analytic) gradient, the finite-difference
(numeric) estimate, and their absolute difference, side by side, with the
elements that disagree most listed underneath. A wrong backward usually
shows as a pattern: a whole row off, a sign flipped, a factor of two.
"""

from __future__ import annotations

import html

import ipywidgets as ipw
import numpy as np
from matplotlib.ticker import MaxNLocator

from minigrad.gradcheck import GradcheckReport
from widgets.static import StaticForm, figure_png, new_figure


def _as_matrix(tensor) -> np.ndarray:
    """A 2-D array to draw: a scalar is 1x1, a vector one row, more dimensions fold into rows."""
    a = tensor.detach().double().cpu().numpy()
    if a.ndim == 0:
        return a.reshape(1, 1)
    if a.ndim == 1:
        return a.reshape(1, -1)
    return a.reshape(-1, a.shape[-1])


class GradcheckView(StaticForm, ipw.VBox):
    """Heatmaps of analytic vs numeric gradients, and the worst elements, for a GradcheckReport."""

    def __init__(self, report: GradcheckReport, worst: int = 10):
        if not isinstance(report, GradcheckReport):
            raise TypeError(
                f"GradcheckView expects a GradcheckReport, got {type(report).__name__}\n"
                "help: pass the result of mg.gradcheck(fn, *inputs)"
            )
        super().__init__()
        self.add_class("mg-gradcheck-view")
        self.report = report
        self.checked = [i for i, a in enumerate(report.analytic) if a is not None]
        verdict = "passed" if report.ok else f"failed: {len(report.mismatches)} element(s) disagree"
        colour = "#1e7b34" if report.ok else "#b00"
        self.verdict = ipw.HTML(f'<b style="color:{colour}">gradcheck {verdict}</b>')
        self.verdict.add_class("mg-verdict")
        self.plot = ipw.Image(value=figure_png(self.figure()), format="png")
        self.plot.add_class("mg-gradcheck-plot")
        self.worst = ipw.HTML(self._worst_table(worst))
        self.worst.add_class("mg-worst")
        self.children = [self.verdict, self.plot, self.worst]
        self.mark_as_minigrad()

    def figure(self):
        rows = max(len(self.checked), 1)
        fig = new_figure(10, 2.6 * rows)
        for r, i in enumerate(self.checked):
            analytic = _as_matrix(self.report.analytic[i])
            numeric = _as_matrix(self.report.numeric[i])
            both = np.concatenate([analytic.ravel(), numeric.ravel()])
            limit = max(float(np.abs(both).max()), 1e-12)
            panels = (
                ("analytic", analytic, "RdBu_r", -limit, limit),
                ("numeric", numeric, "RdBu_r", -limit, limit),
                ("|difference|", np.abs(analytic - numeric), "Reds", 0, None),
            )
            for c, (title, data, cmap, lo, hi) in enumerate(panels):
                ax = fig.add_subplot(rows, 3, r * 3 + c + 1)
                image = ax.imshow(data, cmap=cmap, vmin=lo, vmax=hi, aspect="auto",
                                  interpolation="nearest")  # fmt: skip
                ax.set_title(f"{self.report.names[i]}: {title}", fontsize=9)
                # Rows and columns are element indices: whole numbers only.
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
                fig.colorbar(image, ax=ax)
        return fig

    def _worst_table(self, count: int) -> str:
        if not self.report.mismatches:
            return "every element within tolerance"
        rows = "".join(
            f"<tr><td>{html.escape(str(self.report.names[m.input]))}</td><td>{m.index}</td>"
            f"<td>{m.analytic:.6g}</td><td>{m.numeric:.6g}</td><td>{m.error:.3g}</td></tr>"
            for m in self.report.mismatches[:count]
        )
        head = (
            "<tr><th>input</th><th>index</th><th>analytic</th><th>numeric</th><th>error</th></tr>"
        )
        return f'<table class="mg-table" style="font-size:12px">{head}{rows}</table>'

    def describe(self) -> str:
        if self.report.ok:
            return "GradcheckView: gradcheck passed"
        return f"GradcheckView: gradcheck failed, {len(self.report.mismatches)} element(s) disagree"

    def to_png(self) -> bytes:
        return figure_png(self.figure())
