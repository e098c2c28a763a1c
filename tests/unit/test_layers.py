"""The import map's rules (scripts/layers.py), read from the source: no arrow points up, and
the message store's backends are named only by settings, the commands that operate a table
and the stream handler. One more here: the project package serves the apps and imports none
of them, except where it wires them in."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# cruddur/ modules that wire the apps in: the URLconf and the settings (by dotted strings
# today), and the health page, which asks the message store whether it answers.
PROJECT_WIRING = {"cruddur/urls.py", "cruddur/settings.py", "cruddur/views.py"}


def _load_layers():
    spec = importlib.util.spec_from_file_location("layers", ROOT / "scripts" / "layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


layers = _load_layers()


def test_no_import_points_up():
    _, upward, _ = layers.arrows()
    assert upward == []


def test_only_settings_commands_and_the_stream_handler_name_a_store_backend():
    _, _, backend_named = layers.arrows()
    assert backend_named == []


def test_the_project_package_imports_no_app():
    # The request-cost middleware included: the DynamoDB adapter writes to the neutral tally
    # in cruddur/request_cost.py, which the middleware reads.
    known = layers.modules()
    imports = {
        path: layers.imported(path, name, known)
        for name, path in known.items()
        if path.startswith("cruddur/") and path not in PROJECT_WIRING
    }
    assert {
        path: sorted(apps)
        for path, targets in imports.items()
        if (apps := {target for target in targets if not target.startswith("cruddur.")})
    } == {}
    assert "cruddur.request_cost" in imports["cruddur/middleware.py"]  # the finder sees it
