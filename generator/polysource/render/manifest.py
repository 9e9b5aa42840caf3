"""manifest.json: every generated file and its hash, for drift checks and deploy."""

import hashlib
import json

from polysource.stack.paths import MANIFEST


def file_hash(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def render_manifest(project: str, files: dict[str, bytes], inputs: str | None) -> str:
    """inputs: what the render read, as one digest (render.fingerprint), when it has one."""
    document = {
        "generated_by": "polysource",
        "project": project,
        **({"inputs": inputs} if inputs else {}),
        "files": {path: file_hash(files[path]) for path in sorted(files)},
    }
    return json.dumps(document, indent=2) + "\n"


def unchanged(files: dict[str, bytes], inputs: str | None) -> bool:
    """output/'s files are what a render of these inputs wrote: its manifest names this digest,
    every file in it and no other, each with its hash."""
    try:
        manifest = json.loads(files.get(MANIFEST, b""))
        listed = manifest["files"]
        recorded = manifest.get("inputs")
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    if inputs is None or recorded != inputs or not isinstance(listed, dict):
        return False
    if set(listed) != set(files) - {MANIFEST}:
        return False
    return all(file_hash(files[path]) == listed[path] for path in listed)


def same_but_inputs(a: bytes, b: bytes) -> bool:
    """Two manifests that list the same files and hashes: only what the render read differs (a
    comment in the inventory, a newer polysource that renders the same)."""
    try:
        first, second = json.loads(a), json.loads(b)
        first.pop("inputs", None)
        second.pop("inputs", None)
    except (ValueError, AttributeError):
        return False
    return bool(first == second)
