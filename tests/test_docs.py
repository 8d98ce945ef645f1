"""The documentation site builds offline with ``mkdocs build --strict`` (a warning fails), and its API
reference lists every public function of the documented modules with its arguments."""

import ast
import re
import subprocess
import sys

import yaml

from conftest import ROOT

REFERENCE = ROOT / "docs" / "reference"


def _modules(page: str) -> list[str]:
    """The modules a reference page renders (its ``::: module`` lines)."""
    text = (REFERENCE / f"{page}.md").read_text(encoding="utf-8")
    return re.findall(r"^::: ([\w.]+)$", text, flags=re.M)


def _nav_files(nav) -> list[str]:
    out = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        out += _nav_files(value) if isinstance(value, list) else [value]
    return out


def _public_functions(module: str) -> dict[str, list[str]]:
    """Top-level public functions of ``module`` (read from its source, not imported) -> their argument names."""
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.is_file():
        path = ROOT / module.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            a = node.args
            functions[node.name] = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
    return functions


def test_docs_build_strict_offline_and_reference_every_public_function(tmp_path):
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = _nav_files(config["nav"])
    assert {"index.md", "deployment.md", "reproduction.md", "user-guide/profiles.md"} <= set(pages)
    on_disk = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert on_disk == set(pages), "every page of docs/ is in the nav, and every nav entry exists"
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "WARNING" not in done.stderr, done.stderr[-4000:]
    for page in ("api", "data", "attacks", "architectures"):
        modules = _modules(page)
        assert modules, page
        html = (site / "reference" / page / "index.html").read_text(encoding="utf-8")
        for module in modules:
            functions = _public_functions(module)
            for name, args in functions.items():
                anchor = f'id="{module}.{name}"'
                assert anchor in html, f"{module}.{name} is missing from reference/{page}.md"
                section = html[html.index(anchor):]
                signature = re.sub(r"<[^>]+>", "", section[:section.find("</h", 0) + 4000])
                for arg in args:
                    assert arg in signature, f"{module}.{name}: argument {arg} is not in its reference entry"
    # their docstrings are Markdown: no reStructuredText role (``:func:`x```) shows up raw on the page
    for page in ("data", "architectures"):
        html = (site / "reference" / page / "index.html").read_text(encoding="utf-8")
        raw = re.findall(r":(?:func|class|mod|data|meth|attr|exc):", html)
        assert not raw, f"reference/{page}: reStructuredText roles {raw[:3]} render as text"
    # every module of luring_tf.data and architectures has its reference entry
    for page, package in (("data", "luring_tf/data"), ("architectures", "architectures")):
        modules = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                   for p in (ROOT / package).glob("*.py") if p.name == "__init__.py" or not p.name.startswith("_")}
        missing = modules - set(_modules(page)) - ({"luring_tf.data"} if page == "data" else set())
        assert not missing, f"reference/{page}.md lacks {sorted(missing)}"
