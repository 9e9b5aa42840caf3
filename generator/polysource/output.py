"""Writing output/ atomically, and comparing it with a fresh render."""

import difflib
import json
import shutil
import tempfile
from pathlib import Path

from polysource.errors import PolysourceError
from polysource.render.manifest import MANIFEST


def existing_files(output: Path) -> dict[str, bytes]:
    if not output.is_dir():
        return {}
    return {
        p.relative_to(output).as_posix(): p.read_bytes() for p in sorted(output.rglob("*")) if p.is_file()
    }


def _owned(output: Path) -> set[str]:
    """Files the previous render wrote, per its manifest."""
    try:
        manifest = json.loads((output / MANIFEST).read_text())
        return set(manifest["files"]) | {MANIFEST}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def write_output(output: Path, files: dict[str, bytes]) -> list[str]:
    """Replace output/ with files in one rename; returns the paths that changed.

    Refuses when output/ holds files polysource did not write, so nothing of the user's is lost.
    """
    current = existing_files(output)
    foreign = sorted(set(current) - _owned(output))
    if foreign:
        listed = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise PolysourceError(
            f"{output}: holds files polysource did not write ({listed}); "
            "move them away or choose another --output"
        )
    changed = _differences(files, current)
    if not changed:
        return []
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the config from the containers' users
    old = output.with_name(f".{output.name}.old")
    try:
        for rel, content in files.items():
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        if old.exists():
            shutil.rmtree(old)
        if output.exists():
            output.rename(old)
        try:
            staging.rename(output)
        except OSError:
            if old.exists() and not output.exists():
                old.rename(output)
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return changed


def _differences(files: dict[str, bytes], current: dict[str, bytes]) -> list[str]:
    return sorted(p for p in set(files) | set(current) if files.get(p) != current.get(p))


def drift(output: Path, files: dict[str, bytes]) -> list[str]:
    """Paths whose content differs from a fresh render (missing and extra files too)."""
    return _differences(files, existing_files(output))


def unified_diff(output: Path, files: dict[str, bytes]) -> str:
    current = existing_files(output)
    chunks = []
    for path in drift(output, files):
        before = current.get(path, b"").decode(errors="replace").splitlines(keepends=True)
        after = files.get(path, b"").decode(errors="replace").splitlines(keepends=True)
        a = f"a/{path}" if path in current else "/dev/null"
        b = f"b/{path}" if path in files else "/dev/null"
        chunks.extend(difflib.unified_diff(before, after, a, b))
    return "".join(chunks)
