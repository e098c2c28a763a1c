"""Build the stream handler's Lambda zip (`make lambda-zip` -> build/stream-handler.zip).

The zip holds the project modules `messaging.stream` imports, found by following its imports
(not a list kept by hand), and nothing else: the Lambda runtime brings boto3 and botocore,
and Django is never needed (docs/STREAM_HANDLER.md). An import of anything else fails the
build, so a new dependency of the handler cannot be left out silently.

Imports that are not part of the chain at run time are not followed:
- inside `try:` ... `except ImportError:` (the store's factory tries Django's settings and
  falls back to the environment when Django is absent, as in the Lambda);
- under `if TYPE_CHECKING:`.

The output is reproducible (sorted entries, fixed timestamps and modes), so its content hash,
which names the artifact in S3 (deploy/deploy.py), changes only when the code does.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLER_MODULE = "messaging.stream"
DEFAULT_OUTPUT = ROOT / "build" / "stream-handler.zip"
# What the Lambda Python runtime provides besides the standard library.
RUNTIME_PACKAGES = frozenset({"boto3", "botocore"})
_OPTIONAL_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError"})
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry


class BuildError(Exception):
    pass


def module_path(name: str) -> Path | None:
    """The source file of project module `name`, or None if it is not one of ours."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def handler_modules() -> dict[str, Path]:
    """Every project module the handler imports, with the packages holding them."""
    found: dict[str, Path] = {}
    pending = [HANDLER_MODULE]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        path = module_path(name)
        if path is None:
            raise BuildError(f"{name} is not a module of this project")
        found[name] = path
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        pending += [".".join(parts[:depth]) for depth in range(1, len(parts))]
        pending += _project_imports(name, path)
    return found


def _project_imports(name: str, path: Path) -> list[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = []
    for node in _run_time_imports(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            maybe_modules = []
        else:
            base = _absolute(node, package)
            modules = [base]
            # `from a import b` also imports a.b when b is a module rather than a name in a.
            maybe_modules = [f"{base}.{alias.name}" for alias in node.names]
        for module in modules:
            if module_path(module) is not None:
                imported.append(module)
            else:
                _check_provided(module, importer=name)
        imported += [module for module in maybe_modules if module_path(module) is not None]
    return imported


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _check_provided(module: str, *, importer: str) -> None:
    top = module.partition(".")[0]
    if top in sys.stdlib_module_names or top in RUNTIME_PACKAGES:
        return
    if module_path(top) is not None:
        return  # one of ours: the module itself was checked above
    raise BuildError(
        f"{importer} imports {module}, which the Lambda runtime does not provide: make the "
        "import optional (try/except ImportError) or keep it out of the handler's modules."
    )


def _run_time_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a module that run when the handler needs them."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.Try) and _catches_import_error(node):
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child)  # the try body is optional, the fallback is not
            return
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(kind, ast.Name) and kind.id in _OPTIONAL_IMPORT_ERRORS for kind in types):
            return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def build(output: Path | str = DEFAULT_OUTPUT) -> Path:
    """Write the zip to `output` (replacing it) and return its path."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    entries = sorted(path.relative_to(ROOT).as_posix() for path in handler_modules().values())
    partial = output.with_name(output.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # rw-r--r--, whatever the checkout's umask
            archive.writestr(info, (ROOT / entry).read_bytes(), compresslevel=9)
    partial.replace(output)
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the zip"
    )
    args = parser.parse_args(argv)
    try:
        path = build(args.output)
    except BuildError as error:
        parser.exit(1, f"lambda_zip: {error}\n")
    with zipfile.ZipFile(path) as archive:
        count = len(archive.namelist())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"{path}: {count} modules, sha256 {digest}")


if __name__ == "__main__":
    main()
