"""docs/runtime.md's option tables say what each binary's --help says: every option of
every binary has a row (its own table's, or a common table's), with the same metavariable
(a number's range: `--batch 1..4096`), the same environment variable and, in tables with
a default column, the same default (the cell starts with it in backticks; an option with
none starts with a word such as "empty" or "off"); and every row names an option that the
binaries of its table have."""
import os
import re
import subprocess

from dcrig import bindir

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME_MD = os.path.join(HERE, "..", "..", "docs", "runtime.md")
BINARIES = ["dc-broker", "dc-rng", "dc-hasher", "dc-dispatcher", "dc-worker", "dc-webui",
            "dc-keygen", "dc-audit"]
COMMON = "common"  # the tables that apply to every binary whose --help has the option


def exe(name):
    if name == "dc-webui":
        return os.path.join(bindir(), "..", "webui", name)
    return os.path.join(bindir(), name)


def help_options(name):
    """{flag: (metavar or None, env, default or None)} from `name --help`."""
    r = subprocess.run([exe(name), "--help"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, (name, r)
    opts, lines = {}, r.stdout.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^  (--[a-z0-9-]+)(?: (\S+))?(?:\s|$)", line)
        if not m or m.group(1) in ("--help", "--version"):
            continue
        env = re.match(r"^\s+env (\w+)(?:, default (.*))?$", lines[i + 1])
        assert env, (name, line, lines[i + 1])
        opts[m.group(1)] = (m.group(2), env.group(1), env.group(2))
    return opts


def doc_rows():
    """[(binaries or COMMON, flag, metavar, env, default cell or None, line)]."""
    rows, owner = [], None
    with open(RUNTIME_MD, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            names = re.match(r"^((?:`dc-[a-z]+`(?:, )?)+)", line)
            if names and line.endswith(":"):
                owner = re.findall(r"`(dc-[a-z]+)`", names.group(1))
            elif re.match(r"^(Common to every binary|Security, on every ZeroMQ binary|"
                          r"Redis clients)\b.*:$", line):
                owner = COMMON
            elif line.startswith("## "):
                owner = None
            if not owner or not line.startswith("| `--"):
                continue
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            flag_cell = re.match(r"^`(--[a-z0-9-]+)(?: ([^`]+))?`(?: \(`(dc-[a-z]+)` only\))?$",
                                 cells[0])
            env_cell = re.match(r"^`(\w+)`$", cells[1])
            assert flag_cell and env_cell, f"runtime.md:{n}: cannot read the row: {line}"
            binaries = [flag_cell.group(3)] if flag_cell.group(3) else owner
            rows.append((binaries, flag_cell.group(1), flag_cell.group(2), env_cell.group(1),
                         cells[2] if len(cells) > 2 else None, n))
    return rows


def has_default_column(n):
    """Whether the table holding line n has a `default` column."""
    with open(RUNTIME_MD, encoding="utf-8") as f:
        lines = f.read().splitlines()
    i = n - 1
    while i > 0 and lines[i - 1].startswith("|"):
        i -= 1
    return "| default |" in lines[i]


checks, problems = 0, []
helps = {name: help_options(name) for name in BINARIES}
rows = doc_rows()
documented = {name: set() for name in BINARIES}
own = {(b, r[1]) for r in rows if r[0] != COMMON for b in r[0]}  # a binary's own row wins
for binaries, flag, meta, env, cell, n in rows:
    if binaries == COMMON:
        targets = [b for b in BINARIES if flag in helps[b] and (b, flag) not in own]
    else:
        targets = binaries
    if not targets:
        problems.append(f"runtime.md:{n}: {flag}: no binary has it")
    for b in targets:
        checks += 1
        if flag not in helps[b]:
            problems.append(f"runtime.md:{n}: {b} has no {flag}")
            continue
        documented[b].add(flag)
        hmeta, henv, hdefault = helps[b][flag]
        if (meta, env) != (hmeta, henv):
            problems.append(f"runtime.md:{n}: `{flag} {meta or ''}` / {env}, but {b} --help says "
                            f"`{flag} {hmeta or ''}` / {henv}")
        if not has_default_column(n):
            if hdefault is not None:
                problems.append(f"runtime.md:{n}: {b} {flag} has a default ({hdefault}) that "
                                f"the table has no column for")
            continue
        first = re.match(r"^`([^`]*)`", cell)
        if hdefault is None and first:
            problems.append(f"runtime.md:{n}: {b} {flag} has no default, the docs say `{first.group(1)}`")
        elif hdefault is not None and (not first or first.group(1) != hdefault):
            problems.append(f"runtime.md:{n}: {b} {flag}: --help's default is `{hdefault}`, "
                            f"the docs' cell is: {cell}")
for b in BINARIES:
    checks += 1
    missing = sorted(set(helps[b]) - documented[b])
    if missing:
        problems.append(f"runtime.md has no row for {b}'s {', '.join(missing)}")

for p in problems:
    print("FAIL:", p)
print(f"{checks - len(problems)} passed, {len(problems)} failed")
raise SystemExit(1 if problems else 0)
