"""The key that signs the RAG apps' index manifests: an index folder is served only if this user's apps
wrote it.

The key is 32 random bytes in ``$XDG_CONFIG_HOME/embeddinggemma/index-key`` (``~/.config/...``), made
once with mode 0600 and never written into an index folder. A manifest carries an HMAC-SHA256 of its own
canonical JSON under that key; a manifest whose signature does not verify (copied from another machine
or user, or edited) is never trusted. The manifest itself stays readable JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from rag_output import AppError

SIGNATURE = "signature"
_SCHEME = "hmac-sha256:"


def key_path() -> Path:
    config_home = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_home) / "embeddinggemma" / "index-key"


def signing_key() -> bytes:
    """This user's key, made on first use (mode 0600; two processes making it at once agree on one)."""
    path = key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32))
            try:
                os.link(temporary, path)  # fails if another process made the key first: theirs is kept
            except FileExistsError:
                pass
        finally:
            temporary.unlink(missing_ok=True)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AppError(
            f"the index key {path} can be read or written by other users (mode {stat.filemode(mode)}): run "
            f"`chmod 600 {path}`, or delete it to make a new one (every saved index is then rebuilt once)."
        )
    return bytes.fromhex(path.read_text(encoding="ascii").strip())


def sign(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with its signature."""
    return {**manifest, SIGNATURE: _signature(manifest)}


def verified(manifest: dict[str, Any]) -> bool:
    """Whether ``manifest`` was signed with this user's key and not changed since."""
    claimed = manifest.get(SIGNATURE)
    return isinstance(claimed, str) and hmac.compare_digest(claimed, _signature(manifest))


def _signature(manifest: dict[str, Any]) -> str:
    body = {key: value for key, value in manifest.items() if key != SIGNATURE}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return _SCHEME + hmac.new(signing_key(), canonical, hashlib.sha256).hexdigest()
