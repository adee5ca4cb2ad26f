"""The layout's rules, read from the source: small files and functions, no import circle, `vsr` below `pipelines`
below `vsr_safmn` (the Python API)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vsr", "pipelines", "vsr_safmn")  # the library, the jobs + CLI, the Python API above both
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60


def _sources() -> dict[str, Path]:
    """Module name -> file, for every module of the project (scripts and the entry point included)."""
    mods: dict[str, Path] = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = f
    return mods


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The project modules `name` imports by name (a package's own submodules count as those submodules)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    deps: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            deps.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                deps.add(sub if sub in mods else base)
    return {d for d in deps if d in mods and d != name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_no_module_imports_one_that_imports_it_back():
    mods = _sources()
    graph = {name: _imports(name, path, mods) for name, path in mods.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_library_never_imports_the_pipelines_nor_the_api():
    mods = _sources()
    above = {"vsr": ("pipelines", "vsr_safmn"), "pipelines": ("vsr_safmn",)}
    offenders = {name: sorted(d for d in _imports(name, path, mods) if d.split(".")[0] in above[pkg])
                 for name, path in mods.items() if (pkg := name.split(".")[0]) in above}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_files_and_functions_stay_small():
    files = [*(ROOT / pkg for pkg in PACKAGES), ROOT / "scripts", ROOT / "run_pipeline.py"]
    too_long: list[str] = []
    for f in sorted(p for top in files for p in ([top] if top.is_file() else top.rglob("*.py"))):
        text = f.read_text()
        rel = f.relative_to(ROOT)
        if text.count("\n") > MAX_FILE_LINES:
            too_long.append(f"{rel}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    assert too_long == []


def test_library_errors_never_spell_a_command_line_flag():
    """The library names settings as {setting}; the CLI shows them as its flags (pipelines/cli.py)."""
    flagged = []
    for f in sorted((ROOT / "vsr").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                for const in ast.walk(node.exc):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str) and " --" in f" {const.value}":
                        flagged.append(f"{f.relative_to(ROOT)}:{const.lineno}: {const.value.strip()[:60]}")
    assert flagged == []


# Every place that writes a file, and why it is safe: an output is written only to a temporary path from
# vsr.fs.atomic_path / partial_path or vsr.io.AtomicOutput (renamed when complete; see docs/stopping.md), so a
# new write call must be added here after a look at where its path comes from.
_WRITE_CALL = re.compile(r"av\.open\(.*[\"']w[\"']|\bopen\([^)]*[\"'](?:w|wb|a|ab|x|xb)[\"']|\.write_text\(|"
                         r"\.write_bytes\(|torch\.save\(|savefig\(|imwrite\(|\.tofile\(|json\.dump\(|shutil\.copy")
WRITE_SITES = {
    "vsr/fs.py": "the atomic helpers themselves write their temporary path",
    "vsr/training/checkpoint.py": "torch.save into atomic_path's temporary path",
    "vsr/models/weights.py": "a download into atomic_path's temporary path",
    "vsr/io/file/sink.py": "the muxer opens AtomicOutput's temporary path (the caller's)",
    "vsr/io/file/pipe.py": "the muxer writes the stream to stdout (-o -): a pipe, no file under a name",
    "vsr/io/live/sinks.py": "a recording's AtomicOutput temporary path, or a stream URL",
    "vsr/io/synth.py": "a generated clip through AtomicOutput",
    "vsr/metrics/cost.py": "/proc/self/clear_refs, a kernel control file",
    "pipelines/segments/manifest.py": "the work directory's .lock, held with flock, never data",
    "pipelines/bench/report.py": "the plot into atomic_path's temporary path",
    "pipelines/compare/video.py": "the comparison video through AtomicOutput",
    "pipelines/bench/naive.py": "the naive baseline's scratch output in bench's temporary folder",
    "scripts/soak.py": "the child's log in the soak's temporary folder",
    "scripts/gpu_summary.py": "the GPU check's summary under $OUT, read after the run",
}


def test_every_file_write_is_a_known_atomic_or_scratch_site():
    found: dict[str, int] = {}
    for top in (*PACKAGES, "scripts"):
        for f in sorted((ROOT / top).rglob("*.py")):
            hits = sum(1 for line in f.read_text().splitlines() if _WRITE_CALL.search(line))
            if hits:
                found[str(f.relative_to(ROOT))] = hits
    assert sorted(found) == sorted(WRITE_SITES), "a write call outside the known sites, or a stale entry"
