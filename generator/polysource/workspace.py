"""Writing output/ atomically, and comparing it with a fresh render.

Everything is rendered in memory first, written into a staging folder beside output/, and
swapped in with one atomic exchange (Linux's renameat2 RENAME_EXCHANGE; two renames elsewhere),
under a lock, so an error, a signal or a concurrent render leaves output/ either as it was or as
the new render, never half of each and never missing. SIGTERM and SIGHUP while staging end in
the same clean-up as an error; what a SIGKILL leaves (a staging folder, a render aside) the next
render removes or puts back first. `--check` and deploy compare under the same lock. A folder
holding anything polysource did not write (a file, an empty folder, a symlink) is never
overwritten; folders are 0755 and files 0644 whatever the umask (containers' users read them).
"""

import contextlib
import ctypes
import difflib
import fcntl
import fnmatch
import json
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from polysource.errors import OutputError
from polysource.stack.paths import KEPT, MANIFEST

LOCK_WAIT_S = 30.0


def resolve_output(output: Path) -> Path:
    """The real folder: a symlinked output/ keeps its link, render swaps what it points to."""
    resolved = output.resolve()
    if resolved == Path(resolved.anchor) or resolved == Path.home().resolve():
        raise OutputError(f"{output}: choose a folder of its own for the rendered stack (e.g. output/)")
    return resolved


def kept(path: str) -> bool:
    """A file the user keeps inside output/ (a board's secrets.h): never rendered, never lost."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in KEPT)


def existing_files(output: Path) -> dict[str, bytes]:
    """Relative path -> content of every file render owns under output/ (symlinks not followed)."""
    found: dict[str, bytes] = {}
    for path, entry in _entries(output):
        if stat.S_ISREG(entry.st_mode) and not kept(path):
            try:
                found[path] = (output / path).read_bytes()
            except OSError as error:
                raise OutputError(f"{output / path}: cannot read: {error.strerror}") from None
    return dict(sorted(found.items()))


def _entries(output: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of everything under output/, folders included."""
    if not output.is_dir():
        return
    for root, dirs, files in os.walk(output, onerror=_walk_error):
        for name in sorted(dirs) + sorted(files):
            full = Path(root) / name
            yield full.relative_to(output).as_posix(), full.lstat()


def _walk_error(error: OSError) -> None:
    raise OutputError(f"{error.filename}: cannot read: {error.strerror}")


CONFLICT = re.compile(r"^(<{7}|={7}|>{7}|\|{7})( .*)?$")


def _owned(output: Path) -> set[str]:
    """Files the previous render wrote, per its manifest: both sides of a git merge conflict in
    it (output/ is committed; a conflicted manifest is stale, not foreign)."""
    try:
        text = (output / MANIFEST).read_text()
    except OSError:
        return set()
    found: set[str] = set()
    for version in _conflict_sides(text):
        try:
            found |= {str(p) for p in json.loads(version)["files"]}
        except (ValueError, KeyError, TypeError):
            continue
    return found | {MANIFEST} if found else set()


def _conflict_sides(text: str) -> list[str]:
    """The text as written, or each side of its conflict markers (<<<<<<< ours ||||||| base
    ======= theirs >>>>>>>)."""
    lines = text.splitlines(keepends=True)
    if not any(CONFLICT.match(line.rstrip("\n")) for line in lines):
        return [text]
    sides: list[list[str]] = [[], [], []]  # ours, base, theirs
    part = None
    for line in lines:
        marker = CONFLICT.match(line.rstrip("\n"))
        if marker:
            part = {"<": 0, "|": 1, "=": 2, ">": None}[marker.group(1)[0]]
            continue
        for i, side in enumerate(sides):
            if part is None or part == i:
                side.append(line)
    return ["".join(side) for side in sides]


def foreign_entries(output: Path) -> list[str]:
    """Entries polysource did not write: files outside the manifest, other folders, symlinks."""
    owned = _owned(output)
    folders = {parent.as_posix() for path in owned for parent in Path(path).parents if parent != Path(".")}
    foreign = []
    for path, entry in _entries(output):
        if stat.S_ISLNK(entry.st_mode):
            foreign.append(f"{path} (a symlink)")
        elif stat.S_ISDIR(entry.st_mode):
            if path not in folders:
                foreign.append(f"{path}/")
        elif path not in owned and not (kept(path) and stat.S_ISREG(entry.st_mode)):
            foreign.append(path)
    return foreign


@contextlib.contextmanager
def render_lock(output: Path) -> Iterator[None]:
    """One render at a time into a folder: other renders wait, then say so if it takes long."""
    parent = output.parent
    try:
        handle = os.open(parent, os.O_RDONLY)
    except OSError as error:
        raise OutputError(f"{parent}: cannot open: {error.strerror}") from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OutputError(
                        f"{output}: another render is running into this folder; try again when it ends"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(handle)


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP while output/ is written: cleaned up as an error is, then the exit."""


@contextlib.contextmanager
def _signals_clean_up() -> Iterator[None]:
    """SIGTERM and SIGHUP raise where render is (the main thread), so its clean-up runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(number: int, _frame: Any) -> None:
        raise Interrupted(f"stopped by signal {number}")

    previous = {number: signal.signal(number, interrupt) for number in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def write_output(output: Path, files: dict[str, bytes]) -> list[str]:
    """Replace output/ with files in one swap; returns the paths that changed."""
    output = resolve_output(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{output.parent}: cannot create: {error.strerror}") from None
    with render_lock(output), _signals_clean_up():
        _recover(output)
        foreign = foreign_entries(output)
        if foreign:
            listed = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise OutputError(
                f"{output}: holds things polysource did not write ({listed}); "
                "move them away or choose another --output"
            )
        orphans = kept_files(output, files)[1]
        if orphans:
            raise OutputError(
                f"{output}: {', '.join(orphans)} would be lost (its board left the inventory): "
                "move it away first"
            )
        changed = _differences(files, existing_files(output))
        if changed:
            _swap(output, files)
        return changed


def _swap(output: Path, files: dict[str, bytes]) -> None:
    if output.exists() and not os.access(output, os.W_OK | os.X_OK):
        raise OutputError(f"{output}: not writable (permission denied); nothing was changed")
    old = output.with_name(f".{output.name}.old")
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.{STAGING_MARK}", dir=output.parent))
    except OSError as error:
        raise OutputError(f"{output.parent}: cannot write: {error.strerror}; nothing was changed") from None
    try:
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the config from the containers' users
        for rel, content in files.items():
            target = staging / rel
            _folders(staging, target.parent)
            target.write_bytes(content)
            target.chmod(0o644)
        for rel in kept_files(output, files)[0]:  # the user's, carried over as they are
            shutil.copy2(output / rel, staging / rel)
        _remove(old)
        if output.exists() and _exchange(staging, output):
            staging, old = old, staging  # the previous render is in staging's place now
        else:
            if output.exists():
                output.rename(old)
            try:
                staging.rename(output)
            except OSError:
                if old.exists() and not output.exists():
                    old.rename(output)
                raise
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise OutputError(
            f"{error.filename or output}: cannot write: {error.strerror}; {output} was left as it was"
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _remove(old)


def kept_files(output: Path, files: dict[str, bytes]) -> tuple[list[str], list[str]]:
    """The user's files in output/: (carried over into the new render, left without a folder)."""
    found = [path for path, entry in _entries(output) if kept(path) and stat.S_ISREG(entry.st_mode)]
    folders = {Path(path).parent for path in files}
    return [p for p in found if Path(p).parent in folders], [
        p for p in found if Path(p).parent not in folders
    ]


def _remove(folder: Path) -> None:
    """Remove a previous render kept aside, even if someone made it read-only. Whatever else sits
    at that reserved name (a symlink, a file) is unlinked itself: nothing is followed out of it."""
    try:
        entry = folder.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(entry.st_mode):  # a symlink (to anywhere) or a file: the name only
        folder.unlink()
        return

    def writable_then_retry(function, path, _info):  # type: ignore[no-untyped-def]
        """Make what is inside the folder writable (never the folder's parent, never a link's
        target), then try again."""
        for inside in {os.path.dirname(path), path}:
            with contextlib.suppress(OSError):
                if Path(inside).is_relative_to(folder) and not os.path.islink(inside):
                    os.chmod(inside, 0o755)
        with contextlib.suppress(OSError):
            function(path)

    shutil.rmtree(folder, onerror=writable_then_retry)


def _folders(root: Path, folder: Path) -> None:
    """folder and its parents up to root, 0755 whatever the umask (027 made them 0750: Grafana's
    user, 472, could not enter its provisioning folder)."""
    missing = []
    while folder != root and not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        each.mkdir()
        each.chmod(0o755)


RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (renameat2 RENAME_EXCHANGE): output/ is never missing, not
    even between two renames. False where the system cannot (not Linux, an old kernel or libc, a
    file system without it): the caller renames twice."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), RENAME_EXCHANGE)
    return bool(done == 0)


def _recover(output: Path) -> None:
    """What a render stopped by SIGKILL or a power cut left: the previous output aside and none in
    place (put back, so nothing it held, a board's secrets.h, is lost), and staging folders
    (removed: they hold copies of the user's kept files). Runs under the lock: no other render is
    staging."""
    old = output.with_name(f".{output.name}.old")
    if not os.path.lexists(output) and old.is_dir() and not old.is_symlink():
        old.rename(output)
    prefix = f".{output.name}.{STAGING_MARK}"
    for leftover in output.parent.iterdir():
        if leftover.name.startswith(prefix) and STAGING.fullmatch(leftover.name[len(prefix) :]):
            _remove(leftover)


STAGING_MARK = "polysource-staging-"
STAGING = re.compile(r"[A-Za-z0-9_]{8}")  # tempfile.mkdtemp's random part


def _differences(files: dict[str, bytes], current: dict[str, bytes]) -> list[str]:
    return sorted(p for p in set(files) | set(current) if files.get(p) != current.get(p))


def current_output(output: Path) -> dict[str, bytes]:
    """output/'s files, read under the render lock: never half way through another render's swap."""
    folder = resolve_output(output)
    if not folder.parent.is_dir():
        return {}
    with render_lock(folder):
        return existing_files(folder)


def drift(output: Path, files: dict[str, bytes]) -> list[str]:
    """Paths whose content differs from a fresh render (missing and extra files too)."""
    return _differences(files, current_output(output))


def unified_diff(output: Path, files: dict[str, bytes]) -> str:
    """The diff render would apply, for the files it owns; a file it does not own (a filled .env,
    another tool's file) is named, never shown: it may hold secrets."""
    folder = resolve_output(output)
    current = existing_files(folder)
    owned = _owned(folder) | set(files)
    chunks: list[str] = []
    for path in _differences(files, current):
        if path not in owned:
            chunks.append(f"Only in {output}: {path} (not polysource's; content not shown)\n")
            continue
        before = current.get(path, b"").decode(errors="replace").splitlines(keepends=True)
        after = files.get(path, b"").decode(errors="replace").splitlines(keepends=True)
        a = f"a/{path}" if path in current else "/dev/null"
        b = f"b/{path}" if path in files else "/dev/null"
        chunks.extend(difflib.unified_diff(before, after, a, b))
    return "".join(chunks)


def repository_root(output: Path) -> Path:
    """Where the generated commands run from (the backup unit's WorkingDirectory, the compose
    usage line): the nearest folder above output/ holding .git, or else the output's parent."""
    return next((folder for folder in output.parents if (folder / ".git").exists()), output.parent)
