"""The shape the threat model and the brief ask for, read from the source (pure).

Worlds depend on ``core`` and ``store``, never on each other, the hub or the SPICO client; the
Matrix world asks the store for a notification (``store.notifications``) instead of writing the
mail world's queue; the app reaches the worlds through ``WorldAdapter`` only; and every id in a
SPICO URL goes through the client's one gate.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

from bridge.core.delivery import WorldAdapter
from bridge.mail.world import MailWorld
from bridge.matrix.world import MatrixWorld

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"


def _imports(folder: Path) -> dict[str, set[str]]:
    """{file: modules it imports} for every Python file under ``folder``."""
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        modules: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module)
                modules.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
        found[str(path.relative_to(BRIDGE.parent))] = modules
    return found


@pytest.mark.parametrize(
    ("world", "forbidden"),
    [
        ("matrix", ("bridge.mail", "bridge.hub", "bridge.spico", "bridge.store.mail")),
        ("mail", ("bridge.matrix", "bridge.hub", "bridge.spico", "bridge.store.matrix")),
    ],
)
def test_worlds_depend_on_core_and_store_never_on_each_other(
    world: str, forbidden: tuple[str, ...]
) -> None:
    """``bridge.store.mail`` is the mail world's queue: the Matrix ``notify`` command goes
    through ``store.notifications`` instead."""
    offenders = [
        f"{path}: {module}"
        for path, modules in _imports(BRIDGE / world).items()
        for module in modules
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    ]
    assert not offenders, offenders


def test_the_app_reaches_the_worlds_through_the_world_adapter_only() -> None:
    members = {"ready", "reload", "refusal", "start", "run", "close", "sink", "world"}
    declared = set(WorldAdapter.__dict__) | set(WorldAdapter.__annotations__)
    assert members <= declared
    for world in (MatrixWorld, MailWorld):
        assert isinstance(inspect.getattr_static(world, "ready"), property)
        assert inspect.iscoroutinefunction(world.reload)
        assert list(inspect.signature(world.reload).parameters) == ["self", "config", "configured"]
        if dataclasses.is_dataclass(world):  # the mail world: wired by its build_world
            assert "refusal" in {field.name for field in dataclasses.fields(world)}
        else:
            assert "self.refusal" in inspect.getsource(world.__init__)
    app = (BRIDGE / "app.py").read_text(encoding="utf-8")
    assert "getattr(" not in app


def test_every_id_in_a_spico_url_goes_through_the_clients_gate() -> None:
    """In ``bridge/spico/client.py`` a URL path is an f-string starting with ``/``: each value
    in it must be ``_segment(kind, id)`` (or a helper that calls it), never a bare id."""
    gates = {"_segment", "_account", "_conversation"}
    source = (BRIDGE / "spico" / "client.py").read_text(encoding="utf-8")
    paths = 0
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.JoinedStr) or not node.values:
            continue
        first = node.values[0]
        starts_a_path = (isinstance(first, ast.Constant) and str(first.value).startswith("/")) or (
            isinstance(first, ast.FormattedValue)
            and isinstance(first.value, ast.Call)
            and getattr(first.value.func, "id", None) in gates
        )
        if not starts_a_path:
            continue
        paths += 1
        for part in node.values:
            if isinstance(part, ast.FormattedValue):
                call = part.value
                assert isinstance(call, ast.Call) and getattr(call.func, "id", None) in gates, (
                    ast.unparse(node)
                )
    assert paths >= 10
