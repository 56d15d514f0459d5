"""The Streamlit shell: the page guard, the sidebar model and adapter pickers, the cached loader, page registry,
error display."""

# The parts live in pages/shell/ (a subfolder: Streamlit's v1 mode lists every pages/*.py as a page); pages use
# them as `import pages as ui` and `ui.<name>`.
from pages.shell.adapters import adapters_panel
from pages.shell.errors import guard, show_error, show_unexpected, store_notice
from pages.shell.loading import BUSY_MESSAGE, MAX_LOADED, current_model, current_spec, load_model, model_turn
from pages.shell.navigation import (
    PAGES,
    ROOT,
    SHELL_KEY,
    ensure_shell,
    follow_open_page,
    leave_legacy_mpa,
    page_objects,
)
from pages.shell.pickers import OTHER, RISKS_ENV, adapter_picker, endpoint_form, exposed, sidebar_model
from pages.shell.sharing import share_inputs
from pages.shell.state import fit_kept, keep_table, kept_table, open_page, remembered, reset_table, stale_notice
from pages.shell.trash import ask_delete, confirm_delete, trash_notice
from pages.shell.widgets import chart, copy_as_code, notebook_download
from workbench.display import human_bytes

__all__ = [
    "BUSY_MESSAGE", "MAX_LOADED", "OTHER", "PAGES", "RISKS_ENV", "ROOT", "SHELL_KEY",
    "adapter_picker", "adapters_panel", "ask_delete", "chart", "confirm_delete", "copy_as_code", "current_model",
    "current_spec", "endpoint_form", "ensure_shell", "exposed", "fit_kept", "follow_open_page", "guard", "human_bytes",
    "keep_table", "kept_table", "leave_legacy_mpa", "load_model", "model_turn", "notebook_download", "open_page",
    "page_objects",
    "remembered", "reset_table", "share_inputs", "show_error", "show_unexpected", "sidebar_model", "stale_notice",
    "store_notice", "trash_notice",
]
