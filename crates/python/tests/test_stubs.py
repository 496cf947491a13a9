"""The type stubs describe the module as built: every public name, and nothing else."""
import ast
import importlib.util
from pathlib import Path

import qubes_config_sync as qcs

STUB = Path(__file__).resolve().parent.parent / "qubes_config_sync.pyi"


def stub_names():
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_") or n == "__version__"} - {"PropertyValue"}


def test_stub_lists_every_public_name():
    # `qubes_config_sync.qubes_config_sync` is the native module maturin wraps.
    public = {n for n in dir(qcs) if not n.startswith("_")} - {"qubes_config_sync"} | {"__version__"}
    assert stub_names() == public


def test_stub_and_marker_are_installed():
    package_dir = Path(importlib.util.find_spec("qubes_config_sync").origin).parent
    assert (package_dir / "py.typed").exists()
    assert (package_dir / "__init__.pyi").read_text(encoding="utf-8") == STUB.read_text(encoding="utf-8")


def test_every_class_and_function_has_a_docstring():
    for name in dir(qcs):
        obj = getattr(qcs, name)
        if name.startswith("_") or name == "qubes_config_sync" or not callable(obj):
            continue
        assert obj.__doc__, name
