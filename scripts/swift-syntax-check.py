"""Syntax-check Swift sources with the tree-sitter Swift grammar (no Swift compiler runs here).

Usage: python scripts/swift-syntax-check.py FILE_OR_DIR...

Exits non-zero on any parse error. One construct the grammar (tree-sitter-swift 0.7) does not
know is blanked out before parsing, keeping byte positions: the `@_documentation(visibility:
private)` attribute UniFFI puts on its internal declarations. Everything else must parse.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tree_sitter
import tree_sitter_swift

KNOWN_GRAMMAR_GAPS = [re.compile(rb"@_documentation\(visibility:\s*private\)")]


def blank(source: bytes) -> bytes:
    for pattern in KNOWN_GRAMMAR_GAPS:
        source = pattern.sub(lambda m: b" " * len(m.group(0)), source)
    return source


def errors(parser: tree_sitter.Parser, path: Path) -> list[str]:
    source = blank(path.read_bytes())
    tree = parser.parse(source)
    found: list[str] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            row, column = node.start_point
            line = source.splitlines()[row].decode(errors="replace").strip() if row < len(source.splitlines()) else ""
            kind = "missing " + node.type if node.is_missing else "syntax error"
            found.append(f"{path}:{row + 1}:{column + 1}: {kind}: {line[:100]}")
            continue
        if node.has_error:
            stack.extend(node.children)
    return found


def main(arguments: list[str]) -> int:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
    files: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        files.extend(sorted(path.rglob("*.swift")) if path.is_dir() else [path])
    if not files:
        print("no Swift files given", file=sys.stderr)
        return 2
    problems = [problem for path in files for problem in errors(parser, path)]
    for problem in problems:
        print(problem, file=sys.stderr)
    lines = sum(len(p.read_bytes().splitlines()) for p in files)
    print(f"swift syntax: {len(files)} files, {lines} lines, {len(problems)} errors")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
