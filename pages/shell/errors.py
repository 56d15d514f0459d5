"""Errors at the edge: a user error as its message, anything unforeseen as one line with details (and in the
workspace log), a damaged store announced once."""

import json
import logging
import logging.handlers
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from workbench import workspace
from workbench.errors import WorkbenchError
from workbench.store import Store


def show_error(err: WorkbenchError) -> None:
    """A user error, shown in the page (never a traceback)."""
    st.error(err.for_people(), icon=":material/error:")


def _logger() -> logging.Logger:
    """The workspace log (rotating, 1 MB x 3), opened once per process and workspace."""
    path = workspace.log_file()
    logger = logging.getLogger(f"workbench.app.{path}")
    if not logger.handlers:
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=2**20, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def show_unexpected(err: Exception, where: str) -> None:
    """An error the code did not foresee: one line in the page, the traceback in a details expander and in the
    workspace log. The rest of the page (and every other page) keeps working."""
    details = "".join(traceback.format_exception(err))
    try:
        _logger().error("%s: %s", where, details)
        logged = f" It was logged to {workspace.log_file()}."
    except OSError:
        logged = ""
    st.error(f"{where} failed unexpectedly: {type(err).__name__}: {str(err)[:300]}.{logged}",
             icon=":material/bug_report:")
    with st.expander("Details"):
        st.code(details, language="text")


@contextmanager
def guard(where: str) -> Iterator[None]:
    """Run a page or one action of a page so that no error reaches the browser as a traceback: a WorkbenchError
    is the user's message, anything else a short message with details. Streamlit's own st.stop/st.rerun
    (BaseException, not Exception) pass through."""
    try:
        yield
    except WorkbenchError as err:
        show_error(err)
    except Exception as err:  # noqa: BLE001 -- the last line of defence: shown, logged, never a traceback
        show_unexpected(err, where)


def store_notice() -> None:
    """Once per session: say so when a damaged workspace store was moved aside and a fresh one started."""
    if st.session_state.get("wb_store_notice_shown"):
        return
    st.session_state["wb_store_notice_shown"] = True
    with Store().connect() as conn:
        row = conn.execute("SELECT created, detail FROM events WHERE kind = 'store_moved_aside' "
                           "ORDER BY id DESC LIMIT 1").fetchone()
    if row is not None and time.time() - row["created"] < 7 * 86400:
        detail = json.loads(row["detail"])
        st.warning(f"The workspace store was damaged ({detail.get('reason', 'unreadable')}) and was moved aside to "
                   f"{detail.get('moved_to')}; a fresh store was started. Runs recorded before are in that copy.",
                   icon=":material/database:")
