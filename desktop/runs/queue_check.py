"""Which queued inputs a model cannot take, known before scoring (no Qt; runs on a worker thread)."""

from __future__ import annotations

import os

from desktop.engine.errors import InputError
from desktop.engine.inputs import InputKind


def check_item(engine, item, columns: dict | None = None) -> str | None:
    """The reason ``engine`` cannot score ``item``, in the engine's words, or None if it looks fine.

    Only cheap checks: the kind of input against the profile, a CSV's header against the
    model's columns, and an image file's header. Problems inside a file still show up as
    failed rows when scoring. For a CSV the model can read, ``columns[item.path]`` is set to
    the file's columns that are not model features.
    """
    name = os.path.basename(item.path)
    if item.kind == InputKind.INVALID:
        return item.problem or f"{name}: not a supported input"
    profile = engine.profile
    if item.kind == InputKind.TABLE:
        if profile.table is None and profile.image is not None:
            return f"{name}: this model takes images, not a table; drop image files instead"
        try:
            reader = engine.table_reader(item.path)  # as the run reads it, the profile's pass-through choice too
        except InputError as exc:
            return str(exc)
        reader.close()
        if columns is not None:
            columns[item.path] = list(reader.extra_columns)
        return None
    if profile.image is None:
        return f"{name}: this model takes a table, not an image; drop a CSV file, or set an image profile"
    if item.kind == InputKind.IMAGE:
        from desktop.engine.inputs.images import check_image

        try:
            check_image(item.path)  # the decoder's own refusals, from the header: a bomb is flagged, not raised
        except InputError as exc:
            return str(exc)
    return None


def check_items(engine, items, should_stop=None) -> tuple[dict[int, str], dict[str, list[str]]]:
    """``({queue position: reason}, {CSV path: its columns that are not model features})`` for ``items``."""
    problems: dict = {}
    columns: dict = {}
    for n, item in enumerate(items):
        if should_stop and should_stop():
            break
        reason = check_item(engine, item, columns)
        if reason:
            problems[n] = reason
    return problems, columns
