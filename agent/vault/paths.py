"""Does an engineer request name a path inside the vault? Decided before the user is even asked.

The request is a path (a file push destination) or a command line. We look at the whole text and at every
shell word, split again on the characters that glue paths to options and to each other
(`--out=/x`, `a;b`, `>x`, `-o/x`), and try every suffix that starts like a path. Each candidate is
expanded (`~`, `$VAR`, `%VAR%`, `$env:VAR`), made absolute against the request's working directory,
normalised (`..`, `.`, doubled separators; on Windows also `/`→`\\`, `\\\\?\\` prefixes, trailing dots
and spaces, `:stream` suffixes) and, when it exists, resolved through symlinks. It touches the vault if
it equals, lies inside, or *contains* a vault path (a command on a parent folder may recurse into it:
`rm -rf ~`, `tar c /home`). Globs (`~/Pri*`) are matched component by component. Comparison folds case
on Windows and macOS, whose file systems ignore it.

This is a first filter, not the only wall: a determined obfuscation (`$(echo … | base64 -d)`) defeats
any text check, which is why the vault is *closed* — encrypted, plaintext gone — for the whole session.
"""

from __future__ import annotations

import contextlib
import fnmatch
import ntpath
import os
import posixpath
import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

_SPLIT = re.compile(r"[=,;|&<>()`\n\r\t]|\$\(")
_PS_ENV = re.compile(r"\$env:([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_GLOB = re.compile(r"[*?\[]")
_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


def overlaps(a: Path, b: Path) -> bool:
    """One path equals or contains the other (real, local paths)."""
    windows = os.name == "nt"
    pa, pb = (_parts(str(p), windows, _folds(windows)) for p in (a, b))
    n = min(len(pa), len(pb))
    return pa[:n] == pb[:n]


def _folds(windows: bool) -> bool:
    return windows or sys.platform == "darwin"


def _parts(path: str, windows: bool, fold: bool) -> tuple[str, ...]:
    if windows:
        path = path.replace("/", "\\")
        for prefix in ("\\\\?\\UNC\\", "\\\\?\\", "\\\\.\\"):
            if path.startswith(prefix):
                path = ("\\\\" if "UNC" in prefix else "") + path[len(prefix) :]
        drive, rest = ntpath.splitdrive(ntpath.normpath(path))
        # Win32 drops trailing dots and spaces, and `name:stream` is still `name`.
        comps = [c.split(":")[0].rstrip(". ") or c for c in rest.split("\\") if c]
        parts = (drive + "\\", *comps)
    else:
        norm = posixpath.normpath(path)
        parts = ("/", *[c for c in norm.split("/") if c])
    return tuple(p.casefold() for p in parts) if fold else parts


def _expand(word: str, windows: bool) -> str:
    word = _PS_ENV.sub(lambda m: os.environ.get(m.group(1), m.group(0)), word)
    word = (ntpath if windows else posixpath).expandvars(word)
    if word.startswith("~"):
        word = ntpath.expanduser(word) if windows else posixpath.expanduser(word)
    return word


def _words(text: str, windows: bool) -> list[str]:
    try:
        lexer = shlex.shlex(text, posix=not windows, punctuation_chars=False)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:  # unbalanced quotes: the shell would refuse it, but look at it anyway
        words = text.split()
    if windows:
        words = [w.replace('"', "").replace("'", "") for w in words]
    return words


def candidates(text: str, windows: bool, depth: int = 3) -> set[str]:
    """Every substring of the request that might be read as a path.

    A quoted word with spaces may be a command itself (`sh -c '…'`, `cmd /c "…"`): looked into too.
    """
    found = {text.strip()}
    for word in _words(text, windows):
        if depth > 0 and any(ch.isspace() for ch in word):
            found |= candidates(word, windows, depth - 1)
        for raw in [word, *_SPLIT.split(word)]:
            piece = raw.strip().strip("'\"")
            if not piece:
                continue
            found.add(piece)
            for i, ch in enumerate(piece):
                starts = ch in "/~\\$%" or (windows and _DRIVE.match(piece, i) is not None)
                if i > 0 and starts and piece[i - 1] not in "/\\":
                    found.add(piece[i:])
    found.discard("")
    return found


def _absolute(candidate: str, cwd: str, windows: bool) -> str:
    module = ntpath if windows else posixpath
    expanded = _expand(candidate, windows)
    if windows and expanded.startswith("\\\\?\\"):
        return expanded
    if windows and expanded[:1] in ("\\", "/") and expanded[1:2] not in ("\\", "/"):
        return ntpath.splitdrive(cwd)[0] + expanded  # `\x` is on the current drive
    return module.join(cwd, expanded) if not module.isabs(expanded) else expanded


def _matches(cand: tuple[str, ...], protected: tuple[str, ...], glob: bool) -> bool:
    for c, p in zip(cand, protected, strict=False):
        if c == "**":
            return True
        if not (fnmatch.fnmatchcase(p, c) if glob else c == p):
            return False
    return True


def touches(
    text: str,
    protected: Sequence[Path],
    cwd: Path | None = None,
    windows: bool | None = None,
    fold: bool | None = None,
) -> bool:
    """True if `text` names (or contains) a protected path. `windows`/`fold` default to this machine."""
    win = os.name == "nt" if windows is None else windows
    folding = _folds(win) if fold is None else fold
    native = win == (os.name == "nt")
    base = str(cwd if cwd is not None else Path.cwd())
    targets = set(_variants([str(p) for p in protected], native))
    protected_parts = [_parts(p, win, folding) for p in targets]
    base_parts = _parts(base, win, folding)
    if any(base_parts[: len(p)] == p for p in protected_parts):
        return True  # working inside the vault: every relative name is a vault path
    for candidate in candidates(text, win):
        path = _absolute(candidate, base, win)
        glob = bool(_GLOB.search(candidate))
        forms = [path] if glob else list(_variants([path], native))
        for form in forms:
            parts = _parts(form, win, folding)
            if any(_matches(parts, p, glob) for p in protected_parts):
                return True
    return False


def _variants(paths: Iterable[str], native: bool) -> Iterable[str]:
    """Each path as written and, on this machine, with symlinks resolved (a link into the vault)."""
    for path in paths:
        yield path
        if native:
            with contextlib.suppress(OSError, ValueError):
                yield os.path.realpath(path)
