"""The core's layout rules, checked: import-linter's contracts (pyproject.toml) and the
import habits it cannot express (private names, sub-package faces, docstrings)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "streamproc"
CORE = PACKAGE / "core"
CORE_PACKAGES = sorted(p.name for p in CORE.iterdir() if (p / "__init__.py").is_file())


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every ``from X import ...`` in a file."""
    mod = _module(path)
    base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target, [a.name for a in node.names]))
    return out


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_import_linter_contracts_are_kept() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the test extra: pip install -e '.[test]'"
    result = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_purity_contract_names_every_other_module() -> None:
    """A new top-level module is forbidden to the core too, unless it is a leaf on purpose."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    pure = next(c for c in config["contracts"] if c["source_modules"] == ["streamproc.core"])
    face = next(c for c in config["contracts"] if c.get("allow_indirect_imports"))
    top = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
           if (p.suffix == ".py" or (p / "__init__.py").is_file())}
    expected = {f"streamproc.{name}" for name in top - {"__init__", "__main__", "core", "errors"}}
    assert expected <= set(pure["forbidden_modules"])
    assert expected == set(face["source_modules"])
    layers = {name.strip() for layer in next(
        c for c in config["contracts"] if c["type"] == "layers")["layers"]
        for name in layer.split("|")}
    modules = {p.stem for p in CORE.glob("*.py") if p.name != "__init__.py"}
    assert layers == set(CORE_PACKAGES) | modules


def test_no_private_name_is_imported_from_another_package() -> None:
    bad = []
    for path in _sources():
        here = _module(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module(path)
        for line, target, names in _imports(path):
            if not target.startswith("streamproc"):
                continue
            owner = target if (ROOT / Path(*target.split("."))).is_dir() else \
                target.rsplit(".", 1)[0]
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private and owner != here:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {private} from {target}")
    assert not bad, "\n".join(bad)


def test_core_packages_import_each_other_through_their_faces() -> None:
    """``from ..stats import Season``, never ``from ..stats.season import Season``: a
    package's modules are its own business."""
    bad = []
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE).parts
        own = rel[0] if len(rel) > 1 else None
        for line, target, _ in _imports(path):
            parts = target.split(".")
            if parts[:2] != ["streamproc", "core"] or len(parts) < 4:
                continue
            if parts[2] in CORE_PACKAGES and parts[2] != own:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", CORE_PACKAGES)
def test_each_core_package_says_what_it_owns(package: str) -> None:
    init = CORE / package / "__init__.py"
    tree = ast.parse(init.read_text())
    doc = ast.get_docstring(tree) or ""
    assert len(doc.split()) >= 20, f"{init}: a paragraph on what it owns and may import"
    assert any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "__all__"
                                                 for t in n.targets) for n in tree.body)


def test_no_module_of_streamproc_passes_400_lines() -> None:
    long = [f"{p.relative_to(ROOT)}: {n}" for p in _sources()
            if (n := len(p.read_text().splitlines())) > 400]
    assert not long, "\n".join(long)
