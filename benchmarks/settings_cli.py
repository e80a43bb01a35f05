"""Command-line options generated from the package's settings model, so no benchmark re-declares a
setting: its name, type, default and help come from :class:`embeddinggemma.EmbeddingSettings`."""

from __future__ import annotations

import argparse
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from embeddinggemma import EmbeddingSettings


def _value_type(annotation: Any) -> type:
    """``int`` for ``int``, ``str`` for ``str | None`` and literals of strings, and so on."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    first = args[0]
    if typing.get_origin(first) is typing.Literal:
        return type(typing.get_args(first)[0])
    return first if isinstance(first, type) else str


def add_settings(parser: argparse.ArgumentParser, names: Iterable[str], **defaults: Any) -> None:
    """``--name`` options for these settings; ``defaults`` replace the package's own where given."""
    group = parser.add_argument_group("embedding settings (see EmbeddingSettings)")
    for name in names:
        field = EmbeddingSettings.model_fields[name]
        default = defaults.get(name, field.default)
        kind = _value_type(field.annotation)
        option = "--" + name.replace("_", "-")
        if kind is bool:
            group.add_argument(option, action=argparse.BooleanOptionalAction, default=default, help=field.description)
        else:
            group.add_argument(option, type=kind, default=default, help=f"{field.description} (default: {default})")


def settings_from(parser: argparse.ArgumentParser, args: argparse.Namespace, names: Iterable[str]) -> EmbeddingSettings:
    """The validated settings the options asked for; a bad value exits with the package's own message."""
    try:
        return EmbeddingSettings(**{name: getattr(args, name) for name in names})
    except ValidationError as error:
        parser.error(" ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors()))
        raise  # unreachable: parser.error exits
