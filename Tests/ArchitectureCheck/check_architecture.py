"""Checks that the Architecture article (Sources/TripIndex/TripIndex.docc/Architecture.md) says
what the code does:

- its module table lists every non-test target of Package.swift with exactly the dependencies
  `swift package dump-package` reports (products of other packages in parentheses);
- every module imports each target it depends on, and imports no package target it does not
  depend on (so that no module leans on another through a re-export);
- its store table names every database StoreSchema.swift and the LSH index define.

    python3 Tests/ArchitectureCheck/check_architecture.py     # run by `make lint`

Exit status 1, with every difference listed, when the article or the code must change.
"""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARTICLE = os.path.join(ROOT, "Sources", "TripIndex", "TripIndex.docc", "Architecture.md")


def section(text, title):
    start = text.index("## " + title)
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def table_rows(block):
    rows = []
    for line in block.splitlines():
        if line.startswith("| `"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def main():
    problems = []
    article = open(ARTICLE, encoding="utf-8").read()
    package = json.loads(subprocess.run(
        ["swift", "package", "dump-package"], cwd=ROOT, check=True, capture_output=True,
        text=True).stdout)
    targets = {t["name"]: t for t in package["targets"]
               if t["type"] != "test" and not (t.get("path") or "").startswith("Tests")}
    declared = {}
    for name, target in targets.items():
        deps = set()
        for dependency in target["dependencies"]:
            kind, value = next(iter(dependency.items()))
            deps.add(value[0] if kind in ("byName", "target") else "(" + value[0] + ")")
        declared[name] = deps

    documented = {}
    for cells in table_rows(section(article, "Modules")):
        name = cells[0].strip("`")
        deps = set()
        if cells[2] != "—":
            for part in cells[2].split(","):
                part = part.strip().replace("`", "")
                deps.add(part)
        documented[name] = deps
    for name in sorted(set(declared) | set(documented)):
        if name not in documented:
            problems.append(f"module {name} is in Package.swift but not in the article")
        elif name not in declared:
            problems.append(f"module {name} is in the article but not in Package.swift")
        elif declared[name] != documented[name]:
            problems.append(
                f"module {name}: Package.swift has {sorted(declared[name])}, the article {sorted(documented[name])}")

    # What each Swift module imports, against what it declares.
    for name, target in targets.items():
        folder = os.path.join(ROOT, target.get("path") or os.path.join("Sources", name))
        if target["type"] == "system":
            continue
        imported = set()
        swift_files = 0
        for directory, _, files in os.walk(folder):
            for file in files:
                if file.endswith(".swift"):
                    swift_files += 1
                    for line in open(os.path.join(directory, file), encoding="utf-8"):
                        match = re.match(r"\s*(?:@_exported\s+)?import\s+(\w+)", line)
                        if match and match.group(1) in targets:
                            imported.add(match.group(1))
        if swift_files == 0:
            continue
        local = {d for d in declared[name] if not d.startswith("(")}
        for missing in sorted(local - imported):
            problems.append(f"module {name} depends on {missing} but never imports it")
        for extra in sorted(imported - local - {name}):
            problems.append(f"module {name} imports {extra} without depending on it")

    schema = open(os.path.join(ROOT, "Sources", "VectorStore", "StoreSchema.swift"),
                  encoding="utf-8").read()
    enum_body = schema[schema.index("enum StoreSchema"):schema.index("enum MetaKey")]
    databases = set(re.findall(r'static let \w+ = "([a-z.]+)"', enum_body))
    lsh = open(os.path.join(ROOT, "Sources", "LSHIndex", "LSHIndex.swift"), encoding="utf-8").read()
    databases.add(re.search(r'parametersName = "([^"]+)"', lsh).group(1))
    databases.add(re.search(r'tableName\(_ table: Int\) -> String \{ "([^"\\]+)', lsh).group(1) + "T")
    packed = open(os.path.join(ROOT, "Sources", "LSHIndex", "PackedTables.swift"), encoding="utf-8").read()
    databases.add(re.search(r'packedName = "([^"]+)"', packed).group(1))
    store_rows = {cells[0].strip("`") for cells in table_rows(section(article, "The store"))}
    for database in sorted(databases - store_rows):
        problems.append(f"database {database} is defined in the code but not in the article's store table")
    for database in sorted(store_rows - databases):
        problems.append(f"database {database} is in the article's store table but not in the code")

    if problems:
        print("Architecture article and code differ:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print(f"architecture: {len(declared)} modules and {len(databases)} databases as documented")


if __name__ == "__main__":
    main()
