"""The docs a newcomer reads: links between pages resolve, and every shell command they show runs somewhere.

Pure text, no training. A relative link must name a file that exists, and a `#anchor` into a
markdown page must match one of its headings (GitHub's slug rule). Every command in a fenced
```bash / ```sh / ```shell / ```console block of README.md or docs/*.md is either run by a test
(`RUN_BY`, which names the test), run by CI (a line of `.ci/run`), or marked on its own line with a
comment that starts with one of `MARKERS` (`# GPU-only`, `# long: ...`), saying why no test runs it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMAND_PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINKED_PAGES = [*COMMAND_PAGES, ROOT / "benchmarks" / "README.md", ROOT / "results" / "README.md"]
SHELLS = ("bash", "sh", "shell", "console")
MARKERS = ("GPU-only", "cluster-only", "long:", "install")

# A command (the whole of it, trailing comment removed) -> the test that runs it or the same CLI path
# with a smaller budget. Keep it honest: only a test that really runs that command.
RUN_BY = {
    r"eggroll-bench train --algo \S+ --env \S+ --seeds \d+ --steps \d+ (--set \S+ )*--out \S+":
        "tests/test_runner.py::test_train_cli_writes_rows_in_the_results_schema",
    r"eggroll-bench train --algo \S+ --env \S+ --set \S+":  # the console example: a bad --set, exit 2
        "tests/test_runner.py::test_train_cli_bad_input_exits_2_with_the_field_named",
    r"eggroll-bench rollout \S+ --trial \S+ --seed \d+ --max-frames \d+ --out \S+\.gif":
        "tests/test_after_training.py::test_rollout_command_prints_returns_and_draws_a_gif",
    r"eggroll-bench validate \S+":
        "tests/test_validate.py::test_validate_writes_table_and_figure_with_the_verdicts",
}
# An unlabelled fence whose lines start like these holds commands: it must say its shell.
COMMAND_START = re.compile(r"^\s*(\$ |eggroll-bench |pip |python3? |bash |pytest\b)")


# --- parsing ----------------------------------------------------------------------------------------

def fences(text: str) -> list[tuple[str, int, list[str]]]:
    """(language, line number of the opening fence, lines) of every fenced block."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^(\s*)```(\S*)", lines[i])
        if opening:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i][len(opening.group(1)):] if lines[i].startswith(opening.group(1)) else lines[i])
                i += 1
            blocks.append((opening.group(2).lower(), start, body))
        i += 1
    return blocks


def prose(text: str) -> str:
    """The text outside fenced blocks and inline code spans (where brackets are not links)."""
    out, inside = [], False
    for line in text.splitlines():
        if re.match(r"^\s*```", line):
            inside = not inside
            out.append("")
            continue
        out.append("" if inside else line)
    return re.sub(r"`[^`\n]*`", "", "\n".join(out))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation except - and _ dropped, spaces to -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2, ... as on GitHub."""
    found, counts = set(), {}
    for line in prose(page.read_text()).splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            n = counts.get(base, 0)
            found.add(f"{base}-{n}" if n else base)
            counts[base] = n + 1
    return found


def links(page: Path) -> list[str]:
    return re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose(page.read_text()))


def split_comment(line: str) -> tuple[str, str]:
    """(command, comment): the comment starts at a `#` after whitespace, outside quotes."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip(), line[i + 1:].strip()
    return line.strip(), ""


def commands(page: Path) -> list[tuple[int, str, str]]:
    """(line, command, comment) for every command in the page's shell blocks."""
    found = []
    for lang, start, body in fences(page.read_text()):
        if lang not in SHELLS:
            continue
        pending, first = "", None
        for k, raw in enumerate(body):
            line = raw.rstrip()
            if lang == "console":
                if not line.startswith("$ "):
                    continue  # the command's output
                line = line[2:]
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue  # blank, or a comment line (shown output)
            first = start + k + 1 if not pending else first
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            command, comment = split_comment(pending + line)
            found.append((first, re.sub(r"\s+", " ", command), comment))
            pending = ""
    return found


def ci_lines() -> set[str]:
    return {line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")}


def rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


# --- the checks -----------------------------------------------------------------------------------

def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in LINKED_PAGES:
        for target in links(page):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            if not dest.exists():
                broken.append(f"{rel(page)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{rel(page)}: {target} (no heading '#{anchor}' in {dest.relative_to(ROOT)})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_shown_command_is_tested_run_by_ci_or_marked():
    ci, unaccounted = ci_lines(), []
    for page in COMMAND_PAGES:
        for line, command, comment in commands(page):
            tested = any(re.fullmatch(pattern, command) for pattern in RUN_BY)
            if not (tested or command in ci or comment.startswith(MARKERS)):
                unaccounted.append(f"{rel(page)}:{line}: {command}")
    assert not unaccounted, (
        "commands no test or CI runs and not marked (add the test to RUN_BY in tests/test_docs.py, or end the "
        f"line with a comment starting with one of {MARKERS}):\n" + "\n".join(unaccounted))


def test_command_blocks_say_their_shell():
    unlabelled = [f"{rel(page)}:{start}" for page in COMMAND_PAGES for lang, start, body in fences(page.read_text())
                  if not lang and any(COMMAND_START.match(line) for line in body)]
    assert not unlabelled, "fenced commands without ```bash (so the command check would skip them): " + ", ".join(unlabelled)


def test_readme_test_commands_are_the_ones_ci_runs():
    """README's set-up shows the test commands exactly as .ci/run runs them, and .ci/run runs no others."""
    text = (ROOT / "README.md").read_text()
    setup = text[text.index("## Set-up: two commands"):]
    setup = setup[:setup.index("\n## ", 1)]
    shown = [command for lang, _, body in fences(setup) if lang == "bash" for command in body if "pytest" in command]
    run = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines() if re.search(r"&& pytest\b", line)]
    assert shown and shown == run


@pytest.mark.parametrize("pattern,test", sorted(RUN_BY.items()))
def test_each_mapped_test_exists_and_matches_a_shown_command(pattern, test):
    path, _, name = test.partition("::")
    assert re.search(rf"^(async )?def {re.escape(name)}\(", (ROOT / path).read_text(), re.M), f"{test} is gone"
    shown = [command for page in COMMAND_PAGES for _, command, _ in commands(page)]
    assert any(re.fullmatch(pattern, command) for command in shown), f"no shown command matches {pattern!r}: drop it"


# --- the checker itself -----------------------------------------------------------------------------

def test_slugs_follow_githubs_rule():
    assert slug("Set-up: two commands") == "set-up-two-commands"
    assert slug("What is measured, exactly") == "what-is-measured-exactly"
    assert slug("Results (`sweeps/schema.py`, `results/README.md`)") == "results-sweepsschemapy-resultsreadmemd"
    assert slug("One trial over several devices") == "one-trial-over-several-devices"


def test_the_checker_finds_a_broken_link_an_unmarked_command_and_reads_comments(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## A section\n\n[ok](#a-section) [bad](#nope) [gone](missing.md) [web](https://x.y)\n"
                    "`[not](a-link.md)`\n\n```bash\neggroll-bench sweep big.toml --workers 4   # long: hours\n"
                    "eggroll-bench frobnicate \\\n  --now\n# output line\n```\n\n"
                    "```console\n$ eggroll-bench envs\nCartPole-v1 ...\n```\n")
    assert anchors(page) == {"title", "a-section"}
    assert links(page) == ["#a-section", "#nope", "missing.md", "https://x.y"]
    assert commands(page) == [(9, "eggroll-bench sweep big.toml --workers 4", "long: hours"),
                              (10, "eggroll-bench frobnicate --now", ""), (16, "eggroll-bench envs", "")]
    assert split_comment('pip install -e ".[a]"  # GPU-only: "quoted # not a comment"') == (
        'pip install -e ".[a]"', 'GPU-only: "quoted # not a comment"')
    assert split_comment('python -c "import jax; print(1)  # inside the quotes"') == (
        'python -c "import jax; print(1)  # inside the quotes"', "")
