"""The page's JavaScript and CSS, read from explorer/frontend/: each component's module is its entry
file with the files it imports, joined into the one ES module Streamlit sends to the page.

The files are ES modules: `import { a, b } from "./x.js";` at the top, `export` on what a file
provides. Streamlit takes a component's code as one string, so `module()` inlines each imported file
once, in dependency order, as a closure that returns what the file exports; the importing file reads
its names from that closure's result. A file's top-level names therefore stay its own, and a name a
file imports but its source does not export is an error here, when the app starts (a test checks every
component). Names used but never defined or imported are ESLint's `no-undef`, in tests/ too.

Comment-only lines and indentation are dropped from the module: its code goes to the page with every
element that uses it.
"""
import re
from functools import cache
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
_IMPORT = re.compile(r'^import \{([^}]*)\} from "\./([\w.-]+\.js)";[ \t]*\n', re.M)
_EXPORT = re.compile(r"^export (?:async )?(?:function\*?|const|let|class) (\w+)", re.M)
_EXPORT_DEFAULT = re.compile(r"^export default ", re.M)
_CONST = re.compile(r"^export const (\w+) = .*;(\s*//.*)?$")


class BundleError(ValueError):
    """A frontend file imports what nothing exports, or cannot be read as this module expects."""


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


@cache
def _parse(name: str) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], tuple[str, ...], str]:
    """(imports as (file, names), exported names, the source without its import lines) of one file."""
    path = FRONTEND / name
    if not path.is_file():
        raise BundleError(f"frontend/{name} does not exist")
    source = path.read_text()
    imports = tuple((m.group(2), tuple(_names(m.group(1)))) for m in _IMPORT.finditer(source))
    return imports, tuple(_EXPORT.findall(source)), _IMPORT.sub("", source)


def _order(entry: str) -> list[str]:
    """The files `entry` needs, each once, every file after the files it imports; entry last."""
    done, seen = [], set()

    def visit(name: str, path: tuple) -> None:
        if name in path:
            raise BundleError(f"import circle: {' -> '.join((*path, name))}")
        if name in seen:
            return
        for dep, _ in _parse(name)[0]:
            visit(dep, (*path, name))
        seen.add(name)
        done.append(name)

    visit(entry, ())
    return done


def _var(name: str) -> str:
    return "__" + re.sub(r"\W", "_", name[:-3])


def _check(name: str, wanted, exports) -> None:
    missing = sorted(set(wanted) - set(exports))
    if missing:
        raise BundleError(f"a file imports {', '.join(missing)} from {name}, which does not export it")


def _bindings(name: str) -> str:
    """`const { a, b } = __x;` for each file `name` imports, checking that x exports a and b (names
    taken from a constants file need none: its lines are at the module's top)."""
    lines = []
    for dep, wanted in _parse(name)[0]:
        if _constants(dep) is not None:
            _check(dep, wanted, _constants(dep))
            continue
        _check(dep, wanted, _parse(dep)[1])
        lines.append(f"const {{ {', '.join(wanted)} }} = {_var(dep)};\n")
    return "".join(lines)


def _code_end(line: str) -> int:
    """Where a trailing `// comment` starts in a line of code (len(line) if none): the first " //"
    with an even number of each quote before it, so "http://" in a string is kept."""
    for m in re.finditer(r"\s//", line):
        before = line[:m.start()]
        if all(len(re.findall(rf"(?<!\\){q}", before)) % 2 == 0 for q in "\"'`"):
            return m.start()
    return len(line)


def _compact(source: str) -> str:
    """Drop comments, blank lines and indentation (not inside a multi-line template literal)."""
    out, in_template = [], False
    for line in source.splitlines():
        code = line if in_template else line[:_code_end(line)].strip()
        if not in_template and (not code or code.startswith("//")):
            continue
        out.append(code)
        if len(re.findall(r"(?<!\\)`", code)) % 2:
            in_template = not in_template
    return "\n".join(out) + "\n"


def _constants(name: str) -> dict[str, str] | None:
    """A file of one-line `export const`s only (shared.js): its lines by name, else None."""
    lines = [line for line in _parse(name)[2].splitlines() if line.strip() and not line.lstrip().startswith("//")]
    found = [_CONST.match(line) for line in lines]
    return {m.group(1): m.group(0)[len("export "):] for m in found} if lines and all(found) else None


@cache
def module(entry: str) -> str:
    """The ES module for the component whose code is frontend/`entry` (with what it imports)."""
    order = _order(entry)
    wanted = {}  # constants file -> the names the files of this module take from it
    for name in order:
        for dep, names in _parse(name)[0]:
            if _constants(dep) is not None:
                wanted.setdefault(dep, set()).update(names)
    parts = []
    for name in order[:-1]:
        imports, exports, body = _parse(name)
        const = _constants(name)
        if const is not None:  # only the lines taken, at the module's top: they are its names' only definition
            _check(name, wanted.get(name, set()), const)
            parts.append("".join(line + "\n" for n, line in const.items() if n in wanted.get(name, set())))
            continue
        if _EXPORT_DEFAULT.search(body):
            raise BundleError(f"frontend/{name} is imported by others, so it cannot have a default export")
        body = _EXPORT.sub(lambda m: m.group(0)[len("export "):], body)
        parts.append(f"const {_var(name)} = (() => {{\n{_bindings(name)}{body}return {{ {', '.join(exports)} }};\n}})();\n")
    parts.append(_bindings(entry) + _parse(entry)[2])
    return _compact("".join(parts))


@cache
def css(name: str) -> str:
    """A stylesheet of frontend/, without its comments (it goes with every element, as the code does)."""
    path = FRONTEND / name
    if not path.is_file():
        raise BundleError(f"frontend/{name} does not exist")
    return re.sub(r"/\*.*?\*/\s*", "", path.read_text(), flags=re.S).strip() + "\n"
