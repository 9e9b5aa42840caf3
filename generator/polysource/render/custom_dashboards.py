"""A user's own dashboards: `dashboards/NAME.dashboard.py` beside the inventory, grafanalib's
convention (a module-level `dashboard`), rendered into output/ beside the generated ones.

These files are Python and run at render (and at deploy, which renders to compare): only the
repository's own code belongs there. A module that raises, defines no Dashboard, or gives one
that Grafana would refuse (a bad or taken uid, overlapping panels) is a located error.
"""

import contextlib
import json
import os
import re
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from polysource.errors import InventoryError, Problem
from polysource.regular_files import NotReadable, read_regular
from polysource.render.dashboards import DATASOURCE
from polysource.render.grafana_json import dashboard_text, json_data, modern_panel, modern_shell
from polysource.stack import Stack, paths
from polysource.views import viewing

FOLDER = paths.CUSTOM_DASHBOARDS_DIR
SUFFIX = paths.CUSTOM_DASHBOARD_SUFFIX
MAX_BYTES = 1_000_000
UID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def modules(stack: Stack) -> list[Path]:
    folder = stack.inventory_dir / FOLDER
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def render_custom_dashboards(stack: Stack, taken: set[str]) -> dict[str, str]:
    """File name -> JSON text for each module; taken: the generated dashboards' uids."""
    problems: list[Problem] = []
    found: dict[str, str] = {}
    for path in modules(stack):
        shown = str(path)
        try:
            board = modernised(*_dashboard_of(stack, path))
            _complete(board, stack, path)
            _check(board, taken | {u.casefold() for u in taken}, shown)
        except _Located as error:
            problems.append(Problem(shown, error.line, 1, "", error.message))
            continue
        taken.add(board["uid"].casefold())
        found[f"{board['uid']}.json"] = dashboard_text(board)
    if problems:
        raise InventoryError(problems)
    return found


class _Located(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line, self.message = line, message


def _dashboard_of(stack: Stack, path: Path) -> tuple[dict[str, Any], int]:
    """Run the module (its own namespace) and encode its `dashboard` as grafanalib does; with the
    line that defines it."""
    from grafanalib.core import Dashboard

    try:
        source = read_regular(path, MAX_BYTES)
    except NotReadable as error:
        raise _Located(1, str(error)) from None
    namespace: dict[str, Any] = {"__name__": f"polysource_dashboard_{path.stem}", "__file__": str(path)}
    try:
        code = compile(source, str(path), "exec")
        with viewing(stack), _isolated(), _ctrl_c() as pressed:
            exec(code, namespace)  # noqa: S102 - the repository's own dashboard module, by design
    except SyntaxError as error:
        raise _Located(error.lineno or 1, f"SyntaxError: {error.msg}") from None
    except KeyboardInterrupt as error:
        if pressed:  # a real Ctrl-C stops render; the module's own `raise KeyboardInterrupt` is its error
            raise
        raise _Located(
            _line_in(path, error), "KeyboardInterrupt: a dashboard module must not raise it"
        ) from None
    except SystemExit as error:  # render (and deploy) would end there, "successfully", with nothing written
        raise _Located(
            _line_in(path, error), f"exits ({error.code!r}): a dashboard module must not exit"
        ) from None
    except BaseException as error:  # noqa: BLE001 - any failure of the user's module is reported, located
        raise _Located(_line_in(path, error), f"{type(error).__name__}: {error}") from None
    dashboard = namespace.get("dashboard")
    where = _defined_at(code)
    if not isinstance(dashboard, Dashboard):
        raise _Located(where, "defines no module-level `dashboard` (a grafanalib.core.Dashboard)")
    try:
        data = dashboard.to_json_data()
        encoded = json.dumps(data, default=json_data, sort_keys=True, allow_nan=False)
    except ValueError as error:
        if "JSON compliant" not in str(error):
            raise _Located(where, f"grafanalib cannot encode the dashboard: {error}") from None
        raise _Located(
            where, "a number in the dashboard is NaN or infinite: Grafana reads strict JSON"
        ) from None
    except Exception as error:  # noqa: BLE001 - a non-panel among the panels, a bad attribute
        raise _Located(
            where, f"grafanalib cannot encode the dashboard: {type(error).__name__}: {error}"
        ) from None
    board: dict[str, Any] = json.loads(encoded)
    return board, where


def _line_in(path: Path, error: BaseException) -> int:
    """The module's own line the error came from (its deepest frame in the module)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == str(path)]
    return frames[-1].lineno if frames and frames[-1].lineno else 1


def _defined_at(code: Any) -> int:
    """The line that assigns `dashboard` (the module's last top-level assignment of it), else 1."""
    import dis

    line = 1
    for instruction in dis.get_instructions(code):
        if instruction.opname == "STORE_NAME" and instruction.argval == "dashboard":
            line = (
                instruction.positions.lineno
                if instruction.positions and instruction.positions.lineno
                else line
            )
    return line


@contextlib.contextmanager
def _ctrl_c() -> Iterator[list[int]]:
    """Records a real SIGINT while a module runs (then interrupts as Python would), so that a
    module raising KeyboardInterrupt itself is told apart from the user pressing Ctrl-C."""
    pressed: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        pressed.append(0)  # no handler outside the main thread: any interrupt counts as real
        yield pressed
        return

    def interrupt(number: int, frame: Any) -> None:
        pressed.append(number)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@contextlib.contextmanager
def _isolated() -> Iterator[None]:
    """Render's own state put back whatever the module does: its working directory (output/ and
    the inventory are relative to it), the import path, the arguments and the environment
    (secrets are resolved from it)."""
    cwd, path, argv, environ = os.getcwd(), list(sys.path), list(sys.argv), dict(os.environ)
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path[:], sys.argv[:] = path, argv
        os.environ.clear()
        os.environ.update(environ)


def modernised(board: dict[str, Any], where: int = 1) -> dict[str, Any]:
    """grafanalib's JSON as the current schema wants it: no nulls, no pre-Grafana-5 keys; every
    panel a panel, a title (where: the line that defines the dashboard)."""
    try:
        shell = modern_shell(board)
    except ValueError as error:
        raise _Located(where, str(error)) from None
    for i, panel in enumerate(shell["panels"]):
        inner = panel.get("panels") if isinstance(panel, dict) else None
        if not isinstance(panel, dict) or not all(isinstance(p, dict) for p in inner or []):
            raise _Located(
                where, f"panels[{i}] is not a panel (or holds one that is not): a grafanalib panel"
            )
    shell["panels"] = [modern_panel(p) for p in shell["panels"]]
    title = shell.get("title")
    if not isinstance(title, str) or not title.strip():
        raise _Located(where, "the dashboard has no title: Grafana refuses it")
    return shell


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    found = []
    for panel in board.get("panels") or []:
        found.append(panel)
        found += [p for p in panel.get("panels") or [] if isinstance(p, dict)]
    return found


def _complete(board: dict[str, Any], stack: Stack, path: Path) -> None:
    """The stack's datasource where none is named, and a stable uid when the module gives none."""
    for panel in _panels(board):
        if panel.get("type") != "row" and not panel.get("datasource"):
            panel["datasource"] = dict(DATASOURCE)
        for target in panel.get("targets") or []:
            if isinstance(target, dict) and not target.get("datasource"):
                target["datasource"] = dict(DATASOURCE)
    if not board.get("uid"):
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", path.name[: -len(SUFFIX)]).strip("-") or "custom"
        board["uid"] = f"{stack.name}-{name}"[:40]


def _check(board: dict[str, Any], taken: set[str], shown: str) -> None:
    uid = board["uid"]
    if not isinstance(uid, str) or not UID.fullmatch(uid):
        raise _Located(1, f"uid {uid!r}: Grafana takes at most 40 of A-Z a-z 0-9 _ -")
    if uid.casefold() in taken:
        raise _Located(1, f"uid {uid!r} is another dashboard's (generated or custom): set another")
    boxes: list[tuple[int, int, int, int, str]] = []
    for panel in _panels(board):
        grid = panel.get("gridPos") or {}
        if panel.get("type") == "row" or not all(isinstance(grid.get(k), int) for k in "xywh"):
            continue
        box = (grid["x"], grid["y"], grid["x"] + grid["w"], grid["y"] + grid["h"], panel.get("title", ""))
        for other in boxes:
            if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                raise _Located(1, f"panels {other[4]!r} and {box[4]!r} overlap (gridPos)")
        boxes.append(box)
