"""deploy reads output/ instead of rendering again only when a render would give the same files:
the manifest's digest of what render reads (code, inventory, CA files, places) still matches, and
every file its hash. Anything else renders and compares, as before."""

import shutil

import pytest

from helpers import MINIMAL, write_inventory
from polysource.pipeline import current_files, load_stack, render_output
from polysource.render import files as render_files_module
from polysource.render import fingerprint
from polysource.stack import paths


@pytest.fixture
def rendered(tmp_path):
    inventory = write_inventory(tmp_path, MINIMAL)
    render_output(inventory, tmp_path / "output")
    return inventory, tmp_path / "output"


@pytest.fixture
def renders(monkeypatch):
    """How many times a render ran."""
    count = [0]
    real = render_files_module.render_files

    def counted(*args, **kwargs):
        count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(render_files_module, "render_files", counted)
    return count


def test_a_current_output_is_read_not_rendered(rendered, renders):
    inventory, output = rendered
    files, stale = current_files(load_stack(inventory), output)
    assert stale == [] and renders[0] == 0
    assert files[paths.TELEGRAF_CONF] == (output / paths.TELEGRAF_CONF).read_bytes()
    assert b'"inputs": "sha256:' in files[paths.MANIFEST]


def test_a_hand_edited_file_is_found(rendered, renders):
    inventory, output = rendered
    conf = output / paths.TELEGRAF_CONF
    conf.write_text(conf.read_text().replace('flush_interval = "1s"', 'flush_interval = "10s"'))
    assert current_files(load_stack(inventory), output)[1] == [paths.TELEGRAF_CONF]
    assert renders[0] == 1


def test_an_extra_or_missing_file_is_found(rendered):
    inventory, output = rendered
    (output / "telegraf/extra.conf").write_text("[agent]\n")
    assert "telegraf/extra.conf" in current_files(load_stack(inventory), output)[1]
    (output / "telegraf/extra.conf").unlink()
    (output / paths.ENV_EXAMPLE).unlink()
    assert current_files(load_stack(inventory), output)[1] == [paths.ENV_EXAMPLE]


def test_an_inventory_changed_since_the_render_is_found(rendered, renders):
    inventory, output = rendered
    inventory.write_text(inventory.read_text().replace("unit: m}", "unit: m, interval: 10s}"))
    stale = current_files(load_stack(inventory), output)[1]
    assert paths.TELEGRAF_CONF in stale and renders[0] == 1
    # a change that renders the same files: rendered and compared, and current (only the digest
    # in the manifest would change)
    render_output(inventory, output)
    inventory.write_text(inventory.read_text() + "# a comment\n")
    renders[0] = 0
    assert current_files(load_stack(inventory), output)[1] == []
    assert renders[0] == 1


def test_new_polysource_code_renders_again(rendered, renders, monkeypatch):
    inventory, output = rendered
    monkeypatch.setattr(fingerprint, "code_digest", lambda: b"another polysource")
    assert current_files(load_stack(inventory), output)[1] == []  # the same files: current
    assert renders[0] == 1
    conf = output / paths.TELEGRAF_CONF
    conf.write_text(conf.read_text() + "# edited\n")
    assert current_files(load_stack(inventory), output)[1] == [paths.TELEGRAF_CONF]


def test_a_changed_ca_file_is_found(tmp_path, certs, renders):
    shutil.copy(certs.ca, tmp_path / "ca.pem")
    text = MINIMAL.replace("    username: pi\n", "    username: pi\n    ca_file: ca.pem\n")
    inventory = write_inventory(tmp_path, text)
    render_output(inventory, tmp_path / "output")
    assert current_files(load_stack(inventory), tmp_path / "output")[1] == []
    other = tmp_path / "other"
    other.mkdir()
    from services import Certificates

    fresh = Certificates(other)
    fresh.make_ca()
    shutil.copy(fresh.ca, tmp_path / "ca.pem")
    assert "telegraf/certs/cloud-ca.pem" in current_files(load_stack(inventory), tmp_path / "output")[1]


def test_a_forged_manifest_renders(rendered, renders):
    inventory, output = rendered
    manifest = output / paths.MANIFEST
    conf = output / paths.TELEGRAF_CONF
    conf.write_text(conf.read_text() + "# edited\n")
    manifest.write_text(manifest.read_text().replace('"inputs": "sha256:', '"inputs": "sha256:0'))
    assert current_files(load_stack(inventory), output)[1] == [paths.TELEGRAF_CONF]
    assert renders[0] == 1


def test_the_same_checkout_elsewhere_has_the_same_digest(tmp_path, renders):
    for place in ("a", "b"):  # two clones of one repository
        (tmp_path / place / ".git").mkdir(parents=True)
        write_inventory(tmp_path / place, MINIMAL)
        render_output(tmp_path / place / "inventory.yml", tmp_path / place / "output")
    first, second = ((tmp_path / p / "output" / paths.MANIFEST).read_bytes() for p in ("a", "b"))
    assert first == second


def test_dashboard_modules_always_render(rendered, renders):
    """A user's module may read anything: only running it tells what it gives."""
    inventory, output = rendered
    folder = inventory.parent / paths.CUSTOM_DASHBOARDS_DIR
    folder.mkdir()
    (folder / f"extra{paths.CUSTOM_DASHBOARD_SUFFIX}").write_text(
        "from grafanalib.core import Dashboard\ndashboard = Dashboard(title='Extra', uid='extra')\n"
    )
    render_output(inventory, output)
    assert b'"inputs"' not in (output / paths.MANIFEST).read_bytes()
    renders[0] = 0
    assert current_files(load_stack(inventory), output)[1] == []
    assert renders[0] == 1


def test_a_plain_folder_moved_renders_again(tmp_path, renders):
    """Not a repository: the timers run in the folder itself, so a moved folder is stale."""
    first = tmp_path / "first"
    first.mkdir()
    write_inventory(first, MINIMAL + "backup: {schedule: daily}\n")
    render_output(first / "inventory.yml", first / "output")
    moved = first.rename(tmp_path / "moved")
    stale = current_files(load_stack(moved / "inventory.yml"), moved / "output")[1]
    assert stale == ["backup/demo-backup.service", "manifest.json", "watch/demo-watch.service"]
