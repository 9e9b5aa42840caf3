"""manifest.json: every generated file and its hash, for drift checks and deploy."""

import hashlib
import json


def file_hash(content: bytes) -> str:
    return "sha256:" + hashlib.sha256(content).hexdigest()


def render_manifest(project: str, files: dict[str, bytes]) -> str:
    document = {
        "generated_by": "polysource",
        "project": project,
        "files": {path: file_hash(files[path]) for path in sorted(files)},
    }
    return json.dumps(document, indent=2) + "\n"
