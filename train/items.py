"""What a training example is before it is read (``Item``), and the error a bad data source raises.

Its own module so the source readers (train/data.py, train/csv_data.py) both
build on it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from revive.runtime.errors import UserError

__all__ = ["DataError", "Item"]


class DataError(UserError, ValueError):
    """A data source is missing, empty, or laid out in a way revive does not read."""


@dataclass(frozen=True)
class Item:
    """One example's source. ``key`` is stable across machines (relative path or sample id)."""

    key: str
    group: str
    color: str = ""  # colour image path
    gray: str = ""  # paired grayscale (or damaged) input path; '' = derive from colour
    photo: str = ""  # built-in sample photo name
    crop: tuple[int, int, int] | None = None  # (top, left, side) for sample crops
    damaged: bool = False  # ``gray`` is an already-damaged input (CSV pairs): no synthetic damage on top
