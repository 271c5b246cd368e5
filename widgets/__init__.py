"""Jupyter widgets for minigrad: the tape, gradient flow, LR schedules.

Each widget reads plain data from minigrad's public API and only draws it:

    draw_tape(loss)              the tape as a Graphviz graph (SVG)
    TapeViewer(loss)             step forward through values, then backward through gradients
    GradientFlow(model)          gradient statistics per parameter while training
    LRScheduleExplorer()         a schedule's LR per epoch, against torch's
    TrainingMonitor()            live loss, accuracy and LR curves
    GradcheckView(report)        analytic vs numeric gradients as heatmaps

The training widgets view plain recorders, which a script can use alone:
``TrainingHistory`` (metrics by step) and ``GradientHistory`` (gradient
statistics by step), both Trainer callbacks (widgets/recorders.py).

Every widget also carries a static picture (SVG or PNG) in its display data,
so an exported notebook still shows it (widgets/static.py). Graphs are laid out by a system
``dot`` or, without one, by PyPI's ``graphviz-pure`` (see widgets/render.py).
"""

from widgets.render import GraphvizMissing, dot_binary, render_svg, use_available_layout
from widgets.recorders import GradientHistory, TrainingHistory
from widgets.tape_graph import TapeGraph, draw_tape
from widgets.tape_viewer import TapeViewer
from widgets.gradient_flow import GradientFlow
from widgets.lr_explorer import LRScheduleExplorer
from widgets.training_monitor import TrainingMonitor
from widgets.gradcheck_view import GradcheckView

# Let graphviz.Digraph(...) made by a learner render too, through graphviz-pure if needed.
use_available_layout()

__all__ = [
    "GraphvizMissing",
    "dot_binary",
    "render_svg",
    "use_available_layout",
    "GradientHistory",
    "TrainingHistory",
    "TapeGraph",
    "draw_tape",
    "TapeViewer",
    "GradientFlow",
    "LRScheduleExplorer",
    "TrainingMonitor",
    "GradcheckView",
]
