"""What every parser produces: blocks of text with the headings above them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class BlockKind(str, Enum):
    PARAGRAPH = "paragraph"
    LIST = "list"
    TABLE = "table"
    CODE = "code"


@dataclass(frozen=True)
class Block:
    heading_path: tuple[str, ...]
    text: str
    kind: BlockKind
    # 1-based page of a paged format (PDF); 0 when the format has no pages.
    page: int = 0


class UnparsableDocument(ValueError):
    """The content cannot be read as its declared type; the message says why."""


class HeadingPath:
    """The headings above the current position, outermost first."""

    def __init__(self) -> None:
        self._levels: list[tuple[int, str]] = []

    def enter(self, level: int, title: str) -> None:
        while self._levels and self._levels[-1][0] >= level:
            self._levels.pop()
        if title:
            self._levels.append((level, title))

    @property
    def current(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._levels)
