"""The import map between the layers of the README's Layout section, read from the code.

    python scripts/layers.py          # the arrows between layers, and any that point up

Layers, top to bottom (an arrow may point down or stay in its layer, never up):

    entry     urls, views, forms, admin, middleware, commands, the stream handler
    rules     services, selectors, policy, view models: what may happen and what is shown
    store     the MessageStore interface
    adapters  DynamoDB, the in-memory store, Redis, Cognito, the ORM's models
    base      the domain's dataclasses, errors and the rules both stores share (rosters),
              and the project's plumbing in cruddur/

Each module of the apps is placed by the first pattern below that matches its path. Tests,
the benchmark and the development emulator sit outside the layers and are not read.

One more rule: the message store's backends (`BACKENDS`) are named only by settings, by the
commands that operate a table and by the stream handler; everything else asks the interface.
Exits 1 when an arrow points up or a backend is named elsewhere, so `tests/unit/test_layers.py`
keeps both rules.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cruddur", "messaging", "notifications", "users")
LAYERS = ("entry", "rules", "store", "adapters", "base")
BACKENDS = ("messaging.dynamo", "messaging.memory")
MAY_NAME_BACKENDS = ("*/management/commands/*", "messaging/stream.py", "cruddur/settings.py")

# (pattern, layer): the first match wins.
PLACES = (
    ("*/migrations/*", "adapters"),
    ("*/management/commands/*", "entry"),
    ("*/templatetags/*", "entry"),
    ("cruddur/settings.py", "entry"),
    ("*/urls.py", "entry"),
    ("*/views.py", "entry"),
    ("*_views.py", "entry"),
    ("*/forms.py", "entry"),
    ("*/admin.py", "entry"),
    ("*/apps.py", "entry"),
    ("*/error_pages.py", "entry"),
    ("*/asgi.py", "entry"),
    ("*/wsgi.py", "entry"),
    ("messaging/stream.py", "entry"),
    ("*/middleware.py", "entry"),
    ("users/lockout.py", "entry"),
    ("messaging/store.py", "store"),
    ("messaging/dynamo/*", "adapters"),
    ("messaging/memory.py", "adapters"),
    ("messaging/events.py", "adapters"),
    ("users/cognito.py", "adapters"),
    ("users/models.py", "adapters"),
    ("cruddur/aws.py", "adapters"),
    ("cruddur/cache.py", "adapters"),
    ("cruddur/database.py", "adapters"),
    ("notifications/models.py", "adapters"),
    ("messaging/domain.py", "base"),
    ("messaging/errors.py", "base"),
    ("messaging/rosters.py", "base"),
    ("messaging/timestamps.py", "base"),
    ("cruddur/*", "base"),
    ("*", "rules"),
)


def layer_of(path: str) -> str:
    return next(layer for pattern, layer in PLACES if fnmatch(path, pattern))


def modules() -> dict[str, str]:
    """Dotted module name -> path relative to the checkout, for every module of the apps."""
    found = {}
    for package in PACKAGES:
        for file in sorted((ROOT / package).rglob("*.py")):
            relative = file.relative_to(ROOT).as_posix()
            name = relative.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            found[name] = relative
    return found


def imported(path: str, name: str, known: dict[str, str]) -> set[str]:
    """The modules of the apps that `path` imports (relative imports resolved)."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text(), path)):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for candidate in candidates:
            # `from x import y` names a module when y is one, else the module x.
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
                break
    return targets


def is_backend(name: str) -> bool:
    return any(name == backend or name.startswith(backend + ".") for backend in BACKENDS)


def arrows() -> tuple[Counter, list[tuple[str, str]], list[tuple[str, str]]]:
    """(layer -> layer: module imports), every import that points up, and every import of a
    backend from a module that should ask the interface."""
    known = modules()
    between: Counter = Counter()
    upward = []
    backend_named = []
    for name, path in known.items():
        source = layer_of(path)
        for target in sorted(imported(path, name, known)):
            destination = layer_of(known[target])
            if destination != source:
                between[(source, destination)] += 1
            if LAYERS.index(destination) < LAYERS.index(source):
                upward.append((name, target))
            if (
                is_backend(target)
                and not is_backend(name)
                and not any(fnmatch(path, pattern) for pattern in MAY_NAME_BACKENDS)
            ):
                backend_named.append((name, target))
    return between, upward, backend_named


def main() -> int:
    between, upward, backend_named = arrows()
    print(f"{len(between)} arrows between layers ({sum(between.values())} imports):")
    for (source, destination), count in sorted(
        between.items(), key=lambda item: (LAYERS.index(item[0][0]), LAYERS.index(item[0][1]))
    ):
        print(f"  {source:>8} -> {destination:<8} {count:3d}")
    print(f"{len(upward)} imports point up" + (":" if upward else "."))
    for source, target in upward:
        print(f"  {source} -> {target}")
    print(f"{len(backend_named)} imports name a store backend" + (":" if backend_named else "."))
    for source, target in backend_named:
        print(f"  {source} -> {target}")
    return 1 if upward or backend_named else 0


if __name__ == "__main__":
    sys.exit(main())
