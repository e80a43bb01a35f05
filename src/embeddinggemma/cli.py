"""Command-line options made from the settings models: each option's name, type, default, choices and
help come from the setting it sets, so a program never declares a setting a second time.

Example:
    .. code-block:: python

        import argparse

        from embeddinggemma import EmbeddingSettings
        from embeddinggemma.cli import add_options, chosen

        parser = argparse.ArgumentParser()
        add_options(parser, EmbeddingSettings, ["model", "dimensions", "quantization"])
        args = parser.parse_args()
        keywords = chosen(parser, args, EmbeddingSettings, ["model", "dimensions", "quantization"])
        embeddings = EmbeddingGemmaEmbeddings(**keywords)  # only the settings given on the command line
"""

from __future__ import annotations

import argparse
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

__all__ = ["add_options", "chosen", "flag"]


def flag(name: str, flags: Mapping[str, str] | None = None) -> str:
    """The option that sets ``name``: ``--chunk-size`` for ``chunk_size``, unless ``flags`` renames it."""
    return (flags or {}).get(name) or "--" + name.replace("_", "-")


def _value_type(annotation: Any) -> type:
    """``int`` for ``int``, ``str`` for ``str | None`` and literals of strings, and so on."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    first = args[0]
    if typing.get_origin(first) is typing.Literal:
        return type(typing.get_args(first)[0])
    return first if isinstance(first, type) and first in (int, float, str, bool) else str


def add_options(
    parser: argparse.ArgumentParser,
    settings: type[BaseModel],
    names: Iterable[str],
    *,
    flags: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> None:
    """An option per setting in ``names`` of the model ``settings``. An option left out is not passed on
    (the model's own default applies) unless ``defaults`` gives the program's own default for it."""
    group = parser.add_argument_group(title or f"{settings.__name__} (see its documentation)")
    choices_of = getattr(settings, "choices", lambda name: None)
    for name in names:
        field = settings.model_fields[name]
        default = (defaults or {}).get(name)
        shown = default if default is not None else field.default
        kind = _value_type(field.annotation)
        doc = field.description or name
        if kind is bool:
            group.add_argument(
                flag(name, flags), dest=name, action=argparse.BooleanOptionalAction, default=default, help=doc
            )
            continue
        choices = choices_of(name)
        group.add_argument(
            flag(name, flags),
            dest=name,
            type=kind,
            default=default,
            choices=[c for c in choices if c is not None] if choices else None,
            help=f"{doc} (default: {shown})",
        )


def chosen(
    parser: argparse.ArgumentParser, args: argparse.Namespace, settings: type[BaseModel], names: Iterable[str]
) -> dict[str, Any]:
    """The keywords the options set (those left out are not among them), checked by ``settings``; a refused
    value ends the program with the model's own message, as any bad option does."""
    given = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    try:
        settings(**given)
    except ValidationError as error:
        parser.error(" ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors()))
    return given
