"""Media errors and paths: a record's relative media path resolved under the media root."""

from __future__ import annotations

import os
import pathlib

__all__ = ["MediaError", "resolve_media"]

# -------------------------------------------------------------------------------------------------
# Errors and paths
# -------------------------------------------------------------------------------------------------


class MediaError(ValueError):
    """A media file cannot be used: missing, unreadable, not an image/video, outside the media root...

    The message always starts with the file's path. ``path`` holds it (``None`` if not given).
    """

    def __init__(self, message: str, *, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


def resolve_media(path: str | os.PathLike, media_root: str | os.PathLike | None, *,
                  allow_absolute: bool = False) -> pathlib.Path:
    """Resolve a record's media ``path`` against ``media_root`` (``None``: the current directory).

    A relative path is joined to the root; the result is resolved (symlinks followed, ``..`` folded).
    Unless ``allow_absolute`` is set, an absolute path is a :class:`MediaError`, and so is a path that
    resolves outside the (resolved) root - through ``..`` or a symlink - so nothing outside the root
    is ever read. With ``allow_absolute`` the user trusts the paths: absolute paths are returned
    resolved and relative ones are not confined to the root. A path that is not a string (a number
    from a malformed record) is a :class:`MediaError` too. Existence is not checked here.
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise MediaError(f"a media path must be a string, got {type(path).__name__}", path=repr(path)[:80])
    raw = os.fspath(path)
    if isinstance(raw, bytes):
        raw = os.fsdecode(raw)
    if not raw:
        raise MediaError("empty media path", path=repr(raw))
    if "\x00" in raw:
        raise MediaError("media path contains a NUL byte", path=repr(raw))
    root = pathlib.Path(os.fspath(media_root) if media_root is not None else os.getcwd()).resolve()
    p = pathlib.Path(raw)
    if p.is_absolute():
        if not allow_absolute:
            raise MediaError(f"absolute media paths are not allowed (paths are relative to the media root "
                             f"{root}); opt in with allow_absolute=True", path=raw)
        return _resolved(p, raw)
    full = _resolved(root / p, raw)
    if not allow_absolute and not full.is_relative_to(root):
        raise MediaError(f"resolves outside the media root {root} (to {full})", path=raw)
    return full


def _resolved(p: pathlib.Path, raw: str) -> pathlib.Path:
    """``p.resolve()``; a MediaError when the name cannot be a file here (too long for the file system, a
    symlink loop, a lone surrogate), so later ``is_file()`` calls, which raise for such names, never see
    it. A missing file is fine."""
    try:
        full = p.resolve()
        full.stat()
    except (FileNotFoundError, NotADirectoryError):
        return full
    except (OSError, RuntimeError, ValueError) as e:  # too long, a symlink loop, a lone surrogate
        raise MediaError(f"unusable media path ({e.strerror if isinstance(e, OSError) else e})",
                         path=raw[:200] + ("..." if len(raw) > 200 else "")) from None
    return full


def _existing_file(path: str | os.PathLike) -> pathlib.Path:
    p = pathlib.Path(os.fspath(path))
    try:
        exists, is_file = p.exists(), p.is_file()
    except (OSError, ValueError) as e:  # e.g. a name too long for the file system, a lone surrogate
        raise MediaError(f"unusable path ({e.strerror if isinstance(e, OSError) else e})", path=repr(str(p))) from None
    if not exists:
        raise MediaError("no such file", path=p)
    if not is_file:
        raise MediaError("not a regular file (a directory?)", path=p)
    if not os.access(p, os.R_OK):
        raise MediaError("permission denied", path=p)
    return p
