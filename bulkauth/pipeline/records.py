"""A command's records: what begins each of them, and the two every command writes alike.

Every input item gets exactly one record. Each command says what begins its records (the
schema and where the item came from: ``base``); the records of an item that is not one
(``invalid_input``) and of an item whose check raised, a bug (``failed``), are the same for
every command after that.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from bulkauth.pipeline.progress import Brief, brief
from bulkauth.pipeline.sources import Item

I = TypeVar("I")  # noqa: E741 - the conventional name for an input item

Record = dict[str, Any]


def internal_error(exc: BaseException) -> dict[str, str]:
    """The error part of a record for an unexpected exception (a bug): say so and where."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
    return {
        "code": "internal_error",
        "message": f"{type(exc).__name__}: {exc} (at {where}); please report this as a bug",
    }


class Records(Generic[I]):
    """How a command's records are built, and what the run summary counts of them.

    ``base``: the fields every record of an item begins with, its schema and where the item
    came from. ``sections``: the record sections the summary counts, each by its ``field``
    ("state" or "result"). A plain class: a dataclass costs a run ~0.5 ms of start-up.
    """

    __slots__ = ("base", "field", "sections")

    def __init__(
        self, base: Callable[[I], Record], sections: tuple[str, ...] = (), field: str = "state"
    ) -> None:
        self.base = base
        self.sections = sections
        self.field = field

    def invalid_input(self, item: I, code: str, message: str) -> Record:
        error = {"code": code, "message": message}
        return {**self.base(item), "status": "invalid_input", "error": error}

    def failed(self, item: I, exc: BaseException) -> Record:
        return {**self.base(item), "status": "error", "error": internal_error(exc)}

    def brief(self, rec: Record) -> Brief:
        """What the progress counts of a record (a worker process sends it beside the line)."""
        return brief(rec, self.field)


def line_records(schema: str, sections: tuple[str, ...] = ()) -> Records[Item]:
    """The records of a command whose items are lines of text (domains, spf --input)."""

    def base(item: Item) -> Record:
        return {"schema": schema, "source": item.source, "line": item.line, "input": item.text}

    return Records(base, sections)
