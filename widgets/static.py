"""Static forms of the widgets: the picture an exported or reopened notebook shows.

A live widget needs a running kernel; a notebook exported to HTML, viewed on
the web or opened without its widget state has none. Each widget therefore
puts a picture of itself (SVG or PNG) into its display data, next to the
widget itself. A front end shows the widget when it can and the picture
when it cannot: nbconvert picks the picture when the notebook holds no
state for the widget, JupyterLab when the notebook is not trusted.

A widget shown *before* it has anything to show (a training monitor shown,
then trained) would leave an empty picture behind. So each one is displayed
under its own display id, and when the cell that changed it finishes
(IPython's ``post_execute``) its display data is sent again with the current
picture: the live widget stays as it is, the picture is up to date.
"""

from __future__ import annotations

import base64
import io
import uuid
import weakref

from matplotlib.figure import Figure

# Widgets whose picture changed since their display data was last sent.
_STALE: weakref.WeakSet = weakref.WeakSet()

# A widget drawn from saved state (no kernel yet) gets ipywidgets' "disconnected" mark on
# each of its parts; one mark, on the widget itself, says it as well.
ONE_DISCONNECTED_MARK = (
    "<style>.mg-widget .jupyter-widgets-disconnected::before { content: none; }</style>"
)


def new_figure(width: float = 6.4, height: float = 3.2, dpi: int = 80) -> Figure:
    """A matplotlib Figure that is not registered with pyplot (no global state, no leaks)."""
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class StaticForm:
    """Mixin for an ipywidgets container: its picture goes into its display data.

    A widget sets ``static_mime`` and implements ``to_png()`` or ``to_svg()``,
    and calls ``picture_changed()`` whenever what it shows has changed.
    """

    static_mime = "image/png"
    _display_id: str | None = None

    def to_png(self) -> bytes:
        raise NotImplementedError

    def to_svg(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        """One line of text for a front end that shows neither widget nor picture."""
        return type(self).__name__

    def static_bundle(self) -> dict:
        """``{mime type: data}`` of the picture (empty if it cannot be made)."""
        if self.static_mime == "image/png":
            return {"image/png": base64.b64encode(self.to_png()).decode()}
        return {"image/svg+xml": self.to_svg()}

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.describe()
        try:
            bundle.update(self.static_bundle())
        except Exception as error:  # a picture is a bonus: never lose the widget over it
            bundle["text/plain"] += f" (no static form: {error})"
        return bundle

    def _ipython_display_(self, **kwargs) -> None:
        from IPython.display import display

        if self._display_id is None:
            self._display_id = f"minigrad-{uuid.uuid4().hex}"
        display(self._repr_mimebundle_(), raw=True, display_id=self._display_id)
        _STALE.discard(self)

    def mark_as_minigrad(self) -> None:
        """Give the widget the shared class and style (call once its children are set)."""
        import ipywidgets as ipw

        self.add_class("mg-widget")
        style = ipw.HTML(ONE_DISCONNECTED_MARK, layout=ipw.Layout(display="none"))
        self.children = [*self.children, style]

    def picture_changed(self) -> None:
        """Note that the picture in this widget's display data is out of date."""
        if self._display_id is not None:
            _STALE.add(self)


def refresh_pictures() -> None:
    """Send the current picture of every displayed widget that changed since it was shown."""
    from IPython.display import update_display

    for widget in list(_STALE):
        _STALE.discard(widget)
        if getattr(widget, "comm", True) is None:  # closed: nothing shows it any more
            continue
        update_display(widget._repr_mimebundle_(), raw=True, display_id=widget._display_id)
