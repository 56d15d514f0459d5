"""Which inputs changed since an output was made. A page keeps the inputs beside each output (STYLE: an output is
stored with the inputs that made it and says so when they change); this compares them with the inputs on screen."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping


def _plain(value) -> str:
    """A value as comparable text: dataclasses, tuples, frames and numpy scalars compare by content."""
    def default(v):
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return dataclasses.asdict(v)
        if hasattr(v, "to_dict"):  # a DataFrame (records), a spec with its own plain form
            return v.to_dict("records") if hasattr(v, "columns") else v.to_dict()
        if hasattr(v, "item"):  # a numpy scalar
            return v.item()
        return str(v)

    return json.dumps(value, default=default, sort_keys=True)


def changed_inputs(made_with: Mapping[str, object], now: Mapping[str, object]) -> list[str]:
    """The names in `now` whose values differ from `made_with` (a name missing from `made_with` counts as
    changed), in the order of `now`."""
    missing = object()
    return [name for name, value in now.items()
            if made_with.get(name, missing) is missing or _plain(made_with[name]) != _plain(value)]


def stale_message(changed: list[str]) -> str | None:
    """One sentence for a page to show under a stale output; None when nothing changed."""
    if not changed:
        return None
    return f"Stale: changed since this output was made: {', '.join(changed)}. Run again to update it."
