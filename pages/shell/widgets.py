"""Widgets every page shares: a chart with image downloads, "Copy as code", "Export .ipynb"."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import streamlit as st

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from workbench.snippets import Snippet


def chart(fig, *, key: str, where=st, **kwargs):
    """A Plotly chart whose toolbar camera downloads an SVG (vector, for a paper), with a PNG download under it
    that is drawn only when clicked (kaleido with the system chromium). Returns the chart's selection event."""
    from workbench.results import figure_image

    config = {"toImageButtonOptions": {"format": "svg", "filename": key}, "displaylogo": False}
    event = where.plotly_chart(fig, key=key, config=config, **kwargs)
    where.download_button("PNG", lambda: figure_image(fig), f"{key}.png", "image/png", key=f"{key}_png",
                          icon=":material/download:", type="tertiary",
                          help="This chart as a PNG image (the toolbar's camera saves an SVG).")
    return event


def copy_as_code(snippet: Snippet) -> None:
    """"Copy as code": the snippet that reproduces this view with `import workbench as wb` (the block has a copy
    button), built by `workbench.snippets` from the page's current inputs."""
    with st.expander("Copy as code", icon=":material/code:"):
        st.code(snippet.code, language="python")


def notebook_download(make: Callable[[], bytes] | None, file_name: str, key: str, *, where=st,
                      unavailable: str = "Pick one record to export it as a notebook.") -> None:
    """"Export .ipynb": a stored record as a notebook that re-creates it (`workbench.notebook_export`); disabled,
    saying why, when nothing single is picked (`make` None) or the record cannot be re-run through the API."""
    data, why = b"", unavailable
    if make is not None:
        try:
            data, why = make(), None
        except WorkbenchError as err:
            why = str(err)
    where.download_button("Export .ipynb", data, file_name, "application/x-ipynb+json", key=key,
                          disabled=why is not None, icon=":material/download:",
                          help=why or "A runnable notebook (outputs empty) that re-creates this record with "
                                      "`import workbench as wb` and prints the result beside the stored one.")
