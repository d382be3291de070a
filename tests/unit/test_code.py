"""The code's own shape: imports run one way with no circle (function-level imports included), the
ones inside functions keep torch off the start-up path and say so, functions stay short, and the
page's code is wired as declared (every name it uses defined or imported; ESLint, and the bundler)."""
import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from explorer.backend import bundle
from testkit import ROOT

PYTHON = sorted([*ROOT.glob("explorer/**/*.py"), *ROOT.glob("vae_core/*.py"), ROOT / "train.py", ROOT / "plots.py"])
ESLINT = ROOT / ".ci" / "node_modules" / ".bin" / "eslint"
MAX_FUNCTION_LINES = 80
# each layer imports only from the layers after it (and, within explorer/, from its own package)
LAYERS = ["explorer.app", "explorer.panels", "explorer.link", "explorer.state", "explorer.backend", "train", "plots",
          "vae_core"]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module imported, line, inside a function?) for every import in the file, ours or not."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module:
                # `from explorer.backend import models` imports explorer.backend.models
                found.extend((f"{child.module}.{a.name}" if f"{child.module}.{a.name}" in OURS else child.module,
                              child.lineno, in_function) for a in child.names)
            visit(child, inner)

    visit(tree, False)
    return found


OURS = {module_name(p) for p in PYTHON}


def graph() -> dict[str, set[str]]:
    return {module_name(p): {m for m, _, _ in imports(p) if m in OURS and m != module_name(p)} for p in PYTHON}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the modules along it, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def layer(module: str) -> int:
    if module == "explorer":  # the package's docstring, above all
        return -1
    return next(i for i, name in enumerate(LAYERS) if module == name or module.startswith(name + "."))


def test_no_import_circle_anywhere_function_level_imports_included():
    assert cycle(graph()) is None, " -> ".join(cycle(graph()))


def test_the_circle_finder_finds_one_put_back():
    edges = graph()
    edges["explorer.backend.weights"] = edges["explorer.backend.weights"] | {"explorer.panels.decoder"}
    found = cycle(edges)
    assert found is not None and "explorer.backend.weights" in found and "explorer.panels.decoder" in found


def test_imports_point_one_way_page_parts_then_server_side_then_vae_core():
    wrong = [f"{a} imports {b}" for a, targets in graph().items() for b in targets if layer(b) < layer(a)]
    assert wrong == []


def test_a_function_level_import_keeps_torch_off_the_start_up_path_and_says_so():
    unmarked = []
    for path in PYTHON:
        lines = path.read_text().splitlines()
        for module, line, in_function in imports(path):
            if in_function and "start-up path" not in lines[line - 1]:
                unmarked.append(f"{path.relative_to(ROOT)}:{line} {module}")
    assert unmarked == []


def test_every_python_function_is_at_most_a_screen_long():
    lengths = []
    for path in PYTHON + sorted(ROOT.glob("testkit/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lengths.append((node.end_lineno - node.lineno + 1, f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"))
    too_long = [f"{where} ({n} lines)" for n, where in sorted(lengths, reverse=True) if n > MAX_FUNCTION_LINES]
    assert too_long == []


JS_OR_CSS = re.compile(r"export default|=>\s*\{|\bconst \w+ = |\bfunction\s*\(|\{\s*[\w-]+\s*:\s*[^;{}]+;\s*\}")


def test_no_js_or_css_lives_in_a_python_string():
    found = []
    for path in PYTHON:
        if path.name == "bundle.py":  # the bundler writes the closures that join the files
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and JS_OR_CSS.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_the_page_shares_one_global_defined_in_one_file():
    users = [p.name for p in bundle.FRONTEND.glob("*.js") if "window.__vae" in p.read_text()]
    assert users == ["shared.js"]


ENTRIES = sorted({m.group(1) for p in PYTHON for m in re.finditer(r'bundle\.module\("([\w.]+)"\)', p.read_text())})


@pytest.mark.parametrize("entry", ENTRIES)
def test_each_components_module_is_one_valid_es_module(entry, tmp_path):
    if shutil.which("node") is None:
        pytest.skip("needs node (scripts/test.sh installs it)")
    (tmp_path / "m.mjs").write_text(bundle.module(entry))
    check = subprocess.run(["node", "--check", str(tmp_path / "m.mjs")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


@pytest.fixture
def frontend(tmp_path, monkeypatch):
    """A frontend/ folder of our own for the bundler."""
    monkeypatch.setattr(bundle, "FRONTEND", tmp_path)
    for cached in (bundle._parse, bundle.module):
        cached.cache_clear()
    yield tmp_path
    for cached in (bundle._parse, bundle.module):
        cached.cache_clear()


def test_the_bundler_gives_each_file_its_own_names_and_takes_only_the_shared_lines_imported(frontend):
    (frontend / "shared.js").write_text('export const A = "a";\nexport const B = "b"; // a comment\n')
    (frontend / "dom.js").write_text('import { A } from "./shared.js";\nconst x = 1;\nexport function el() { return A + x; }\n')
    (frontend / "main.js").write_text('import { el } from "./dom.js";\nimport { B } from "./shared.js";\n'
                                      "const x = 2;  // the same name as dom.js's, its own\n"
                                      "export default function () { return el() + B + x; }\n")
    source = bundle.module("main.js")
    assert 'const A = "a";' in source and 'const B = "b";' in source and "comment" not in source
    assert "const { el } = __dom;" in source and source.count("const x") == 2


@pytest.mark.parametrize("files, words", [
    ({"main.js": 'import { gone } from "./dom.js";\nexport default function () {}\n',
      "dom.js": "export function el() {}\n"}, "imports gone from dom.js, which does not export it"),
    ({"main.js": 'import { B } from "./shared.js";\nexport default function () {}\n',
      "shared.js": 'export const A = "a";\n'}, "imports B from shared.js"),
    ({"main.js": 'import { el } from "./dom.js";\nexport default function () {}\n',
      "dom.js": 'import { x } from "./main.js";\nexport function el() {}\n'}, "import circle"),
    ({"main.js": 'import { el } from "./nowhere.js";\nexport default function () {}\n'}, "does not exist"),
])
def test_the_bundler_refuses_an_import_nothing_provides(frontend, files, words):
    for name, text in files.items():
        (frontend / name).write_text(text)
    with pytest.raises(bundle.BundleError, match=words):
        bundle.module("main.js")


def test_eslint_finds_no_undefined_name_or_long_function_in_the_pages_code():
    if not ESLINT.exists():
        pytest.skip("needs ESLint: scripts/test.sh installs it (.ci/package.json)")
    run = subprocess.run([str(ESLINT), "-c", ".ci/eslint.config.mjs", "explorer/frontend"], cwd=ROOT,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_eslint_fails_on_a_name_nothing_defines(tmp_path):
    if not ESLINT.exists():
        pytest.skip("needs ESLint: scripts/test.sh installs it (.ci/package.json)")
    bad = ROOT / "explorer" / "frontend" / "_undefined_name_check.js"
    try:
        bad.write_text("export function f() { return notDefinedAnywhere; }\n")
        run = subprocess.run([str(ESLINT), "-c", ".ci/eslint.config.mjs", str(bad)], cwd=ROOT, capture_output=True,
                             text=True)
    finally:
        bad.unlink()
    assert run.returncode == 1 and "'notDefinedAnywhere' is not defined" in run.stdout
