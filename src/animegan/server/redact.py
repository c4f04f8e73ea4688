"""Keep the server's own filesystem paths out of what HTTP clients are told.

Library errors are written for the person at the terminal and name paths freely (the model cache,
the installed package, the operator's weights files). The server sends the same messages to clients,
so :func:`public_message` replaces every absolute path in them: a file keeps its name only, a folder
becomes ``[server folder]``. The operator still sees the full message in the server log.
"""

from __future__ import annotations

import functools
import os
import re

SERVER_FOLDER = "[server folder]"


@functools.lru_cache(maxsize=1)
def _path_pattern() -> re.Pattern[str]:
    """Absolute POSIX paths whose first component is a real top-level folder of this machine.

    Anchoring on the real top-level folders (``/root``, ``/home``, ``/tmp``, ...) keeps API routes
    such as ``/api/v1/models`` in messages untouched.
    """
    try:
        tops = sorted((name for name in os.listdir("/") if os.path.isdir(os.path.join("/", name))),
                      key=len, reverse=True)
    except OSError:
        tops = []
    tops = [t for t in tops if t != "api"] or ["home", "root", "tmp"]
    alternatives = "|".join(re.escape(t) for t in tops)
    return re.compile(r"(?<![\w.~/-])/(?:" + alternatives + r")(?:/[^\s'\"`,;:()\[\]{}]*)?")


def public_message(text: str, replacements: dict[str, str] | None = None) -> str:
    """``text`` with ``replacements`` applied (server path -> client name), then every absolute path hidden."""
    for private, public in (replacements or {}).items():
        if private:
            text = text.replace(private, public)

    def hide(match: re.Match[str]) -> str:
        path = match.group(0)
        trailing = ""
        while path and path[-1] in ".!?":  # sentence punctuation after a path
            trailing, path = path[-1] + trailing, path[:-1]
        name = path.rstrip("/").rsplit("/", 1)[-1]
        is_file = not path.endswith("/") and "." in name.strip(".")
        return (name if is_file else SERVER_FOLDER) + trailing

    return _path_pattern().sub(hide, text)
