"""Writing a file so that readers see the old version or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Union


def atomic_write_text(path: Union[str, os.PathLike], text: Union[str, Iterable[str]], *, newline: str = "") -> None:
    """Write `text` to a temporary file beside `path`, fsync it, then rename it over `path`. `text` may come
    in pieces (an iterable of str, such as a JSON encoder's iterencode), written as they come, so that a
    large file is never held whole in memory."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fp:
            if isinstance(text, str):
                fp.write(text)
            else:
                held: list[str] = []
                size = 0
                for piece in text:  # pieces are joined up to about 1 MB, then written
                    held.append(piece)
                    size += len(piece)
                    if size >= 1 << 20:
                        fp.write("".join(held))
                        held.clear()
                        size = 0
                fp.write("".join(held))
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
