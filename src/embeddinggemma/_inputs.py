"""Inputs checked before any work: every error names the input by the caller's own index and the fix."""

from __future__ import annotations

from collections.abc import Sequence


def validate_texts(texts: object, *, name: str = "texts") -> list[str]:
    """A list of strings, or an error naming the first bad item (by the caller's own index) and the fix."""
    if isinstance(texts, str | bytes) or not isinstance(texts, Sequence):
        raise TypeError(
            f"{name} must be a list of strings, got {type(texts).__name__}; "
            f"wrap a single text in a list: [{name[:-1] if name.endswith('s') else name}]."
        )
    for i, text in enumerate(texts):
        if text is None:
            raise TypeError(f"{name}[{i}] is None; every input must be a string (drop or replace it).")
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] is a {type(text).__name__}, not a string; convert it with str() or drop it.")
        if not text.isascii():
            check_unicode(text, f"{name}[{i}]")
    return list(texts)


def lone_surrogate(text: str) -> int | None:
    """Where ``text`` holds a lone surrogate (not encodable as UTF-8, so no tokenizer takes it), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def check_unicode(text: str, where: str) -> None:
    """An error naming ``where`` and the position when ``text`` holds a lone surrogate."""
    at = lone_surrogate(text)
    if at is not None:
        raise ValueError(
            f"{where} is not valid Unicode: it holds a lone surrogate {text[at]!r} at character {at} "
            "(usually bytes decoded with errors='surrogateescape'). Decode the source with errors='replace', "
            "or remove the character."
        )


def validate_titles(titles: object, count: int) -> list[str | None]:
    if titles is None:
        return [None] * count
    if isinstance(titles, str) or not isinstance(titles, Sequence):
        raise TypeError(f"titles must be a list with one title (or None) per text, got {type(titles).__name__}.")
    if len(titles) != count:
        raise ValueError(
            f"titles has {len(titles)} items but there are {count} texts; pass one title (or None) per text."
        )
    for i, title in enumerate(titles):
        if title is not None and not isinstance(title, str):
            raise TypeError(f"titles[{i}] is a {type(title).__name__}; a title must be a string or None.")
        if title is not None and not title.isascii():
            check_unicode(title, f"titles[{i}]")
    return list(titles)
