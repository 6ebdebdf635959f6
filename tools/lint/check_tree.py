#!/usr/bin/env python3
"""Checks that keep the tree as docs/ARCHITECTURE.md draws it.

  check_tree.py layering   every #include follows the layer map (the ```layers block
                           of docs/ARCHITECTURE.md); no file includes another layer's
                           *_internal.h header
  check_tree.py budget     files over 800 lines and functions over 60 lines, printed;
                           fails on any that is not in tools/lint/budget.txt or has
                           grown past the size recorded there (a ratchet: the list
                           only shrinks)
  check_tree.py budget --update   rewrites budget.txt from the tree as it is
  check_tree.py docs       every document the tree mentions (NAME.md, docs/NAME.md)
                           exists in the repository
Exit status 1 on a violation, with one line per violation.
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
FILE_BUDGET, FUNCTION_BUDGET = 800, 60
BUDGET_FILE = os.path.join(ROOT, "tools", "lint", "budget.txt")
SOURCE_DIRS = ("src", "include", "tools/aotgrad", "tests", "bench", "fuzz", "examples")


def sources(dirs=SOURCE_DIRS):
    for d in dirs:
        for base, _, files in os.walk(os.path.join(ROOT, d)):
            for f in sorted(files):
                if f.endswith((".cpp", ".h")):
                    yield os.path.relpath(os.path.join(base, f), ROOT)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


# ---- layering ----

def layer_map():
    """{layer: set of layers it may use directly} and {public header: layer}."""
    text = read("docs/ARCHITECTURE.md")
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    if not block:
        sys.exit("docs/ARCHITECTURE.md has no ```layers block")
    uses, headers = {}, {}
    for line in block.group(1).splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        left, _, right = line.partition(":")
        left = left.strip()
        if left.startswith("include/aotgrad/"):
            headers[left[len("include/aotgrad/"):]] = right.strip()
        else:
            uses[left] = set(right.split())
    return uses, headers


def closure(uses):
    out = {}
    for layer in uses:
        seen, todo = set(), [layer]
        while todo:
            for dep in uses.get(todo.pop(), ()):
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        out[layer] = seen | {layer}
    return out


def layer_of(path, headers):
    parts = path.split("/")
    if parts[0] == "src":
        return parts[1]
    if parts[0] == "include":
        return headers.get(parts[2])
    return None  # tools, tests, bench, fuzz, examples may use every layer


def check_layering():
    uses, headers = layer_map()
    allowed = closure(uses)
    problems = []
    for path in sources():
        layer = layer_of(path, headers)
        if path.startswith("include/") and layer is None:
            problems.append(f"{path}: public header missing from the layer map")
            continue
        for n, line in enumerate(read(path).splitlines(), 1):
            m = re.match(r'#include "([^"]+)"', line)
            if not m:
                continue
            inc = m.group(1)
            first = inc.split("/")[0]
            if first == "aotgrad":
                target = headers.get(inc.split("/", 1)[1])
            elif os.path.isdir(os.path.join(ROOT, "src", first)):
                target = first
            else:
                continue  # a header beside the file (tools, tests)
            if target is None:
                problems.append(f"{path}:{n}: includes {inc}, which is not in the layer map")
                continue
            if inc.endswith("_internal.h") and target != layer:
                problems.append(f"{path}:{n}: includes {inc}, an internal header of layer '{target}'")
            if layer is not None and target not in allowed.get(layer, {layer}):
                problems.append(f"{path}:{n}: layer '{layer}' includes {inc} of layer '{target}', "
                                f"which it may not use (it may use: {' '.join(sorted(allowed[layer] - {layer}))})")
    return problems


# ---- budget ----

START = re.compile(r"^(?!(namespace|struct|class|enum|union|using|typedef|extern|template|static_assert|#|//|}|\s))"
                   r".*\)\s*(const)?\s*(noexcept)?\s*(override)?\s*(->\s*[^{]+)?\{\s*$")


def functions(path):
    """(name, first line, length) of each function defined at column 0."""
    lines = read(path).splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        # A definition's head may wrap: join up to three lines ending in "{".
        head, j = line, i
        while not head.rstrip().endswith(("{", ";", "}")) and j + 1 < len(lines) and j - i < 3 \
                and lines[j + 1].startswith(" "):
            j += 1
            head += " " + lines[j].strip()
        if START.match(head) and "=" not in head.split("(")[0]:
            depth, k = 0, i
            for k in range(i, len(lines)):
                depth += lines[k].count("{") - lines[k].count("}")
                if depth <= 0 and k > j - 1 and "{" in "".join(lines[i:k + 1]):
                    break
            name = re.sub(r"\s*\(.*", "", head).split()[-1] if "(" in head else head
            out.append((name, i + 1, k - i + 1))
            i = k + 1
            continue
        i += 1
    return out


def measure():
    over = {}
    for path in sources():
        n = len(read(path).splitlines())
        if n > FILE_BUDGET:
            over[f"{path}"] = n
        if path.endswith(".cpp"):
            for name, line, length in functions(path):
                if length > FUNCTION_BUDGET:
                    over[f"{path}::{name}"] = max(length, over.get(f"{path}::{name}", 0))
    return over


def check_budget(update):
    over = measure()
    if update:
        with open(BUDGET_FILE, "w") as f:
            f.write("# Files over 800 lines and functions over 60, with their sizes when last measured.\n"
                    "# tools/lint/check_tree.py budget fails if one grows or a new one appears; shrink\n"
                    "# this list by splitting them (check_tree.py budget --update rewrites it).\n")
            for key in sorted(over):
                f.write(f"{over[key]:5d} {key}\n")
        print(f"budget: wrote {len(over)} entries to {os.path.relpath(BUDGET_FILE, ROOT)}")
        return []
    known = {}
    if os.path.exists(BUDGET_FILE):
        for line in open(BUDGET_FILE):
            if line.strip() and not line.startswith("#"):
                size, key = line.split(None, 1)
                known[key.strip()] = int(size)
    problems = []
    files = sum(1 for k in over if "::" not in k)
    print(f"budget: {files} files over {FILE_BUDGET} lines, {len(over) - files} functions over {FUNCTION_BUDGET} lines")
    for key, size in sorted(over.items(), key=lambda kv: -kv[1]):
        limit = known.get(key)
        if limit is None:
            problems.append(f"{key}: {size} lines, over the budget ({FILE_BUDGET if '::' not in key else FUNCTION_BUDGET})")
        elif size > limit:
            problems.append(f"{key}: grew from {limit} to {size} lines (it is over the budget already)")
        else:
            print(f"  {size:5d} {key}")
    return problems


def check_docs():
    problems = []
    paths = list(sources()) + [os.path.relpath(os.path.join(base, f), ROOT)
                               for d in ("docs", ".") for base, _, files in os.walk(os.path.join(ROOT, d))
                               for f in files if f.endswith(".md") and "build" not in base and ".git" not in base]
    for path in sorted(set(paths)):
        for n, line in enumerate(read(path).splitlines(), 1):
            for ref in re.findall(r"\b([A-Za-z_][A-Za-z_/.-]*\.md)\b", line):
                here = os.path.join(ROOT, os.path.dirname(path), ref)
                if not any(os.path.exists(p) for p in (os.path.join(ROOT, ref), os.path.join(ROOT, "docs", ref), here)):
                    problems.append(f"{path}:{n}: mentions {ref}, which is not in the repository")
    return problems


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "layering":
        problems = check_layering()
        if not problems:
            print("layering: every include follows the layer map")
    elif what == "docs":
        problems = check_docs()
        if not problems:
            print("docs: every document mentioned is in the repository")
    elif what == "budget":
        problems = check_budget("--update" in sys.argv)
    else:
        sys.exit(__doc__)
    for p in problems:
        print("  " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
