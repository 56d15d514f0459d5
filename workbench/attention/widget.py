"""Interactive attention in a notebook: layer, head, view and token pickers over one capture (ipywidgets); the
figures are the page's, drawn with plotly.js inlined, so it works offline; hover shows each exact weight."""

from __future__ import annotations

from collections.abc import Callable

from workbench.results import AttentionResult, figure_html, needs_inline_js


class AttentionExplorer:
    """The widgets and the redraw on every change; `box` is what a notebook displays."""

    def __init__(self, result: AttentionResult, draw: Callable) -> None:
        import ipywidgets as w

        cap = result.core
        self.result, self.draw = result, draw
        self.layer = w.Dropdown(options=list(cap.layers), description="layer")
        self.head = w.Dropdown(options=list(range(cap.n_heads)), description="head")
        self.view = w.ToggleButtons(options=["head", "mean", "token"], description="view")
        self.token = w.Dropdown(options=[(f"{i} {t}", i) for i, t in enumerate(cap.tokens)],
                                value=cap.n_tokens - 1, description="token")
        self.output = w.Output()
        for picker in (self.layer, self.head, self.view, self.token):
            picker.observe(self.redraw, names="value")
        self.box = w.VBox([w.HBox([self.layer, self.head, self.token]), self.view, self.output])
        self.redraw()

    def figure(self):
        return self.draw(self.result, self.view.value, layer=self.layer.value, head=self.head.value,
                         token=self.token.value)

    def redraw(self, _change=None) -> None:
        from IPython.display import HTML, display

        fig = self.figure()
        self.output.clear_output(wait=True)
        with self.output:
            display(HTML(figure_html(fig, inline_js=needs_inline_js())))
