"""The stubs are the typed API: every public name of the extension is in
`_core.pyi` with a docstring, and every stubbed name exists."""

import ast
import inspect
from pathlib import Path

import s3dlio
from s3dlio import _core

STUB = Path(__file__).resolve().parents[2] / "s3dlio" / "_core.pyi"
TYPE_ALIASES = {"Options"}


def _stub():
    tree = ast.parse(STUB.read_text())
    names, docs, members = set(), {}, {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
            docs[node.name] = ast.get_docstring(node)
        if isinstance(node, ast.ClassDef):
            members[node.name] = {
                item.name: ast.get_docstring(item)
                for item in node.body
                if isinstance(item, ast.FunctionDef)
            }
        if isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            names.add(target.id)
    return names, docs, members


def _public(obj):
    return {n for n in dir(obj) if not n.startswith("_")}


def test_every_public_name_is_stubbed_with_a_docstring():
    names, docs, _ = _stub()
    runtime = _public(_core) | {"__version__"}
    assert runtime - names == set(), "public names missing from _core.pyi"
    assert names - TYPE_ALIASES - runtime == set(), "stubbed names missing from _core"
    undocumented = {n for n, d in docs.items() if not d}
    assert undocumented == set()


def test_class_members_match():
    _, _, members = _stub()
    for cls, stubbed in members.items():
        runtime = {n for n in vars(getattr(_core, cls)) if not n.startswith("_")}
        assert runtime - set(stubbed) == set(), f"{cls}: members missing from the stub"
        assert {n for n in stubbed if not n.startswith("_")} - runtime == set(), cls
        undocumented = {
            n for n, d in stubbed.items() if not d and not n.startswith("_") and n != "__len__"
        }
        assert undocumented == set(), f"{cls}: stubbed members without a docstring"


def test_package_reexports_everything():
    names, _, _ = _stub()
    assert (names - TYPE_ALIASES) <= set(s3dlio.__all__)
    for name in s3dlio.__all__:
        obj = getattr(s3dlio, name)
        if callable(obj) and not inspect.isclass(obj):
            assert obj.__doc__, name
