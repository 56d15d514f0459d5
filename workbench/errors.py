"""One exception type per kind of user error; each says what is wrong and where (path, line, field)."""

from __future__ import annotations


class WorkbenchError(Exception):
    """A problem with the user's input or environment that the user can fix; edges show `str(err)`."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.path:
            where.append(str(self.path) + (f":{self.line}" if self.line is not None else ""))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field `{self.field}`")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def for_people(self) -> str:
        """The message as a page shows it: the sentence first, then where, in words ("The prompt is empty (in
        the prompt)"; "… (file set.jsonl, line 3, field reference)"). `str(err)` keeps the terse CLI form."""
        where = []
        if self.path:
            where.append(f"file {self.path}" + (f", line {self.line}" if self.line is not None else ""))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"{'field' if self.path else 'setting'} {self.field.replace('_', ' ')}")
        sentence = self.message[:1].upper() + self.message[1:]
        return f"{sentence} ({', '.join(where)})" if where else sentence


class ModelNotFound(WorkbenchError):
    """The model name is neither an embedded model, a local folder, nor in the offline hub cache."""


class ModelLoadError(WorkbenchError):
    """The model exists but cannot be loaded as asked (unsafe weights, remote code, bad device)."""


class InvalidSetting(WorkbenchError):
    """A configuration value is out of range or of the wrong kind."""


class UnsafePath(WorkbenchError):
    """A user-supplied name would escape the workspace folder."""
