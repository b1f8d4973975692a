"""What goes into each step's cache key beyond what TFX puts there itself.

TFX keys a cached execution on its input artifacts and exec properties. It
does not look at the code a step runs when that code is named by a dotted path
(`preprocessing_fn="modules.taxi.preprocessing.preprocessing_fn"`, our executor
classes), nor at the content of a file named by path (ImportSchemaGen's
`schema_file`). Without help, an edited schema or recipe is served a cached
result. `stamp` adds such facts as extra exec properties: part of the key on
LocalDagRunner, and plain constant parameters in a compiled Kubeflow spec.

Code digests are per consumer: a step's key covers the project files its entry
module imports, transitively (found by reading import statements, so nothing
is imported here), so a model edit re-trains without re-running Transform.
"""
import ast
import hashlib
import pathlib
from typing import Iterable

import tensorflow as tf

PROJECT_DIR = pathlib.Path(__file__).resolve().parent.parent
# Top-level packages whose code we own (anything else is pinned by the lock).
PROJECT_PACKAGES = ("components", "modules", "pipeline", "serving")


def stamp(node, **facts: str):
    """Adds `facts` to `node`'s exec properties (so to its cache key); returns it.

    Executors ignore exec properties they do not declare, and function
    components only read their own parameters, so this changes no behaviour.
    """
    for key, value in facts.items():
        if key in node.exec_properties and node.exec_properties[key] != value:
            raise ValueError(f"{node.id} already has exec property {key!r}")
        node.exec_properties[key] = value
    return node


def file_digest(uri: str) -> str:
    """SHA-256 of a file's content (any tf.io.gfile URI), 16 hex digits."""
    with tf.io.gfile.GFile(uri, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _module_file(module: str) -> pathlib.Path | None:
    """The .py file of a project module or package, or None if not ours."""
    parts = module.split(".")
    if parts[0] not in PROJECT_PACKAGES:
        return None
    base = PROJECT_DIR.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: pathlib.Path, module: str) -> Iterable[str]:
    """Every module an import statement in `path` may load (any nesting)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base
            # `from pkg import name` may name a submodule.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _closure(modules: Iterable[str]) -> set[pathlib.Path]:
    """Files of `modules`, their parent packages and everything they import."""
    seen: set[str] = set()
    files: set[pathlib.Path] = set()
    pending = list(modules)
    while pending:
        module = pending.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is None:
            continue
        files.add(path)
        parents = module.split(".")[:-1]
        pending += [".".join(parents[:i]) for i in range(1, len(parents) + 1)]
        pending += list(_imported_modules(path, module))
    return files


def code_digest(*modules: str, packages: tuple[str, ...] = ()) -> str:
    """Digest of the code `modules` run, plus every file under `packages`.

    `packages` are folder paths relative to the project (e.g. "modules"), for
    consumers such as the Trainer whose user code is looked up at run time.
    """
    files = _closure(modules)
    for package in packages:
        files.update(path for path in (PROJECT_DIR / package).rglob("*.py")
                     if not _is_test(path))
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _is_test(path: pathlib.Path) -> bool:
    return path.name.endswith("_test.py") or path.name.startswith("test_")


def code_files(*modules: str) -> list[str]:
    """The project files `code_digest(*modules)` covers (for tests and docs)."""
    return sorted(str(p.relative_to(PROJECT_DIR)) for p in _closure(modules))
