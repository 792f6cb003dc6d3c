#!/usr/bin/env python3
"""The book's checks: nothing in book/ may drift from the code or break.

    mdbook build book && python3 book/check.py

Sources (book/src/**/*.md):
  - every {{#include}} names a file that exists, by anchor or whole (a whole
    file only if it has no anchor lines, which would show), never by line
    numbers; the anchor appears exactly once as `ANCHOR: name` and once
    as `ANCHOR_END: name`, in that order, with something between; included
    Rust files belong to a workspace member, so `cargo test --workspace`
    compiles them;
  - every code fence names its language; a `rust` fence holds only includes,
    or is marked `ignore`;
  - every conformance case named (`s03::full_queue_503`) exists in
    tests/src/cases/mod.rs for that stage, and every test named as
    `path/to/file.rs::test_name` exists in that file;
  - every `console` block that runs `$ diff A B` on files of the repository
    shows that command's real output under it (`--fix-diffs` rewrites them);
  - every chapter in SUMMARY.md exists, and every page is reachable;
  - every relative link and image resolves;
  - the worked examples agree with the real simulator: a table after
    `<!-- check: policy-table trace=T policy=P size=N -->` has the trace's
    requests and, request by request, the hits and misses cache-audit gives
    (for OPT, which needs the whole future, the total); a table after
    `<!-- check: policy-totals trace=T size=N -->` has every policy's totals;
    a table after `<!-- check: golden size=N -->` has the golden file's hits.

The built book (book/book/, from `mdbook build book`):
  - every internal href and src resolves to a file, and every #fragment to an
    id in it;
  - no page, style sheet or script loads anything from the network;
  - book.toml keeps the playground runner and MathJax off.

Exit status 0 when every check passes, 1 otherwise (each failure is listed).
Options: --cache-audit PATH (default: build it with cargo and use the debug
binary), --no-build-check (skip the built-book checks), --fix-diffs (write
the real output under every `$ diff` command, then check).
"""

import argparse
import csv
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

BOOK = Path(__file__).resolve().parent
SRC = BOOK / "src"
OUT = BOOK / "book"
ROOT = BOOK.parent
CASES = ROOT / "tests" / "src" / "cases" / "mod.rs"
GOLDEN = ROOT / "cache-audit" / "tests" / "data" / "cacheaudit-golden.csv"

errors: list[str] = []
counts: dict[str, int] = {}


def fail(where, message):
    errors.append(f"{where}: {message}")


def count(what, n=1):
    counts[what] = counts.get(what, 0) + n


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


# ---------------------------------------------------------------- sources

INCLUDE = re.compile(r"(?<!\\)\{\{#(include|rustdoc_include)\s+([^}]+?)\s*\}\}")
OTHER_DIRECTIVE = re.compile(r"(?<!\\)\{\{#(\w+)")
FENCE = re.compile(r"^(\s*)(```+|~~~+)(.*)$")
CASE_REF = re.compile(r"\bs(0[1-9])::([a-z0-9_]+)")
TEST_REF = re.compile(r"`([\w./-]+\.rs)::(\w+)`")
LINK = re.compile(r"(!?)\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CHECK = re.compile(r"<!--\s*check:\s*([\w-]+)((?:\s+\w+=[^\s>]+)*)\s*-->")


def workspace_members() -> list[Path]:
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    return [ROOT / member for member in manifest["workspace"]["members"]]


STAGE_PACKAGES = [
    "stage01-iterative", "stage02-thread-per-conn", "stage03-thread-pool",
    "stage04-routing", "stage05-subprocess", "stage06-graceful-shutdown",
    "stage07-event-loop",
]


def known_cases() -> set[str]:
    """Every case's full name, `sNN::name`, read from the case list in
    tests/src/cases/mod.rs (either of the forms it has used); if that finds
    nothing, asked of the suite itself through `cargo test -- --list`."""
    text = CASES.read_text()
    names = set()
    for name, stage in re.findall(r'\b(?:case|limitation)\(\s*"([a-z0-9_]+)",\s*(\d+)', text):
        names.add(f"s{int(stage):02}::{name}")
    for stage, name in re.findall(r"\b(?:since|only|between)!\(\s*(\d+)\s*,(?:\s*\d+\s*,)?\s*\w+\s*::\s*(\w+)\s*\)", text):
        names.add(f"s{int(stage):02}::{name}")
    if names:
        return names
    for package in STAGE_PACKAGES:
        listing = subprocess.run(
            ["cargo", "test", "-q", "-p", package, "--test", "conformance", "--", "--list"],
            cwd=ROOT, capture_output=True, text=True,
        ).stdout
        names.update(re.findall(r"^(s\d\d::\w+): test$", listing, re.M))
    if not names:
        fail(rel(CASES), "found no conformance cases, neither in the source nor from `cargo test -- --list`")
    return names


def check_include(md: Path, text: str, match, members: list[Path]):
    where = f"{rel(md)}:{line_of(text, match.start())}"
    argument = match.group(2)
    path_part, _, selector = argument.partition(":")
    target = (md.parent / path_part).resolve()
    count("includes")
    if not target.is_file():
        fail(where, f"{{{{#include}}}} of a missing file: {path_part}")
        return
    if selector == "":
        # mdBook strips anchor lines only from anchored includes.
        if re.search(r"ANCHOR(_END)?:", target.read_text(errors="replace")):
            fail(where, f"whole-file include of {rel(target)}, whose ANCHOR lines would show: include an anchor")
        return
    if re.fullmatch(r"\d*(:\d*)?", selector):
        fail(where, f"include by line numbers ({argument}): use an anchor")
        return
    anchor = selector
    source = target.read_text(errors="replace").splitlines()
    starts = [i for i, line in enumerate(source) if re.search(rf"ANCHOR:\s*{re.escape(anchor)}\b", line)]
    ends = [i for i, line in enumerate(source) if re.search(rf"ANCHOR_END:\s*{re.escape(anchor)}\b", line)]
    if len(starts) != 1 or len(ends) != 1:
        fail(where, f"anchor '{anchor}' in {rel(target)}: {len(starts)} ANCHOR and {len(ends)} ANCHOR_END lines, expected one of each")
        return
    if not starts[0] + 1 < ends[0]:
        fail(where, f"anchor '{anchor}' in {rel(target)} is empty or ends before it starts")
    count("anchors")
    if target.suffix == ".rs" and not any(target.is_relative_to(member) for member in members):
        fail(where, f"{rel(target)} is not in a workspace member, so cargo test does not compile it")


def check_fences(md: Path, text: str):
    lines = text.splitlines()
    inside = None  # (marker, info, first line index)
    body: list[str] = []
    for index, line in enumerate(lines):
        match = FENCE.match(line)
        if inside is None:
            if match:
                inside = (match.group(2), match.group(3).strip(), index)
                body = []
            continue
        if match and match.group(2).startswith(inside[0]) and match.group(3).strip() == "":
            marker, info, start = inside
            where = f"{rel(md)}:{start + 1}"
            count("code blocks")
            language = re.split(r"[,\s]", info)[0] if info else ""
            if not language:
                fail(where, "a code block without a language: write ```text, ```console, ```rust …")
            if language == "rust":
                flags = set(re.split(r"[,\s]+", info))
                only_includes = all(INCLUDE.fullmatch(b.strip()) or not b.strip() for b in body)
                if not only_includes and "ignore" not in flags:
                    fail(where, "a rust block that is not an {{#include}} of workspace code must be marked ignore")
            inside = None
            continue
        body.append(line)
    if inside is not None:
        fail(f"{rel(md)}:{inside[2] + 1}", "code block never closed")


def slug(heading: str) -> str:
    """mdBook's id for a heading (normalize_id): lower case, alphanumerics,
    '-' and '_' kept, spaces to '-', everything else dropped."""
    text = re.sub(r"<[^>]+>", "", heading)
    text = re.sub(r"`", "", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    out = []
    for char in text.strip().lower():
        if char.isalnum() or char in "-_":
            out.append(char)
        elif char.isspace():
            out.append("-")
    return "".join(out)


def check_links(md: Path, text: str):
    # Links inside code blocks and inline code are not links.
    stripped = re.sub(r"(?ms)^\s*(```+|~~~+).*?^\s*\1\s*$", "", text)
    stripped = re.sub(r"`[^`\n]*`", "", stripped)
    for match in LINK.finditer(stripped):
        target = match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("//"):
            continue  # external: checked in the built book for resources
        count("links")
        path_part = target.split("#", 1)[0].split("?", 1)[0]
        if path_part == "":
            continue  # same-page fragment: checked in the built book
        resolved = (md.parent / path_part).resolve()
        if not resolved.exists():
            fail(rel(md), f"link to a missing file: {target}")
        elif not resolved.is_relative_to(SRC):
            fail(rel(md), f"link outside book/src (it will not exist in the built book): {target}")


def summary_chapters() -> list[Path]:
    summary = SRC / "SUMMARY.md"
    chapters = []
    for match in re.finditer(r"\]\(([^)]+\.md)\)", summary.read_text()):
        chapter = (SRC / match.group(1)).resolve()
        chapters.append(chapter)
        if not chapter.is_file():
            fail(rel(summary), f"chapter {match.group(1)} does not exist")
    return chapters


# ------------------------------------------------------ simulator examples


class Simulator:
    def __init__(self, binary: Path):
        self.binary = binary
        self.cache: dict[tuple, tuple[int, int]] = {}

    def run(self, lines: list[str], policy: str, size: int) -> tuple[int, int]:
        key = (tuple(lines), policy, size)
        if key not in self.cache:
            with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as trace:
                trace.write("".join(line + "\n" for line in lines))
            try:
                output = subprocess.run(
                    [str(self.binary), trace.name, policy, str(size)],
                    capture_output=True, text=True, check=True,
                ).stdout
            finally:
                os.unlink(trace.name)
            hits = int(re.search(r"^Hits:\s*(\d+)", output, re.M).group(1))
            misses = int(re.search(r"^Misses:\s*(\d+)", output, re.M).group(1))
            self.cache[key] = (hits, misses)
        return self.cache[key]


def find_cache_audit(given: str | None) -> Path:
    if given:
        return Path(given)
    subprocess.run(["cargo", "build", "-q", "-p", "cache-audit", "--bin", "cache-audit"], cwd=ROOT, check=True)
    metadata = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT))
    return Path(metadata["target_directory"]) / "debug" / "cache-audit"


def table_after(text: str, offset: int) -> list[list[str]]:
    """The Markdown table that starts after `offset` (blank lines allowed),
    as rows of cells, the header row first and the separator row dropped."""
    rows = []
    for line in text[offset:].splitlines()[1:]:
        if not line.strip():
            if rows:
                break
            continue
        if not line.lstrip().startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            continue
        rows.append(cells)
    return rows


def trace_lines(md: Path, name: str) -> tuple[list[str], list[str]]:
    """The request lines of a trace file next to the page, and their keys."""
    lines = []
    for line in (md.parent / name).read_text().splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            lines.append(stripped)
    return lines, [line.split()[1] for line in lines]


def check_examples(md: Path, text: str, simulator_factory):
    golden = None
    for match in CHECK.finditer(text):
        kind = match.group(1)
        options = dict(re.findall(r"(\w+)=([^\s>]+)", match.group(2)))
        where = f"{rel(md)}:{line_of(text, match.start())}"
        rows = table_after(text, match.end())
        if len(rows) < 2:
            fail(where, f"check '{kind}' is not followed by a table")
            continue
        header, body = [cell.lower() for cell in rows[0]], rows[1:]
        count("checked tables")
        if kind == "golden":
            if golden is None:
                golden = {(r["policy"], r["trace"], int(r["cache_size"])): int(r["hits"])
                          for r in csv.DictReader(GOLDEN.open())}
            size = int(options["size"])
            for row in body:
                for trace, cell in zip(header[1:], row[1:]):
                    expected = golden.get((row[0].lower(), trace, size))
                    if expected is None:
                        fail(where, f"the golden file has no row {row[0]},{trace},{size}")
                    elif cell != str(expected):
                        fail(where, f"{row[0]} on {trace} at size {size}: the book says {cell}, the golden file {expected}")
        elif kind == "policy-totals":
            lines, _ = trace_lines(md, options["trace"])
            size = int(options["size"])
            for row in body:
                policy = {"opt": "belady"}.get(row[0].lower(), row[0].lower())
                hits, misses = simulator_factory().run(lines, policy, size)
                if row[1:3] != [str(hits), str(misses)]:
                    fail(where, f"{row[0]}: the book says {row[1]} hits, {row[2]} misses; cache-audit says {hits}, {misses}")
        elif kind == "policy-table":
            lines, keys = trace_lines(md, options["trace"])
            policy, size = options["policy"], int(options["size"])
            try:
                request_column, hit_column = header.index("request"), header.index("hit?")
            except ValueError:
                fail(where, "the table needs 'request' and 'hit?' columns")
                continue
            requests = [row[request_column] for row in body]
            if requests != keys:
                fail(where, f"the requests column {' '.join(requests)} is not the trace {' '.join(keys)}")
                continue
            claimed = [row[hit_column].split()[0].lower() == "hit" for row in body]
            simulator = simulator_factory()
            if policy == "belady":
                # OPT's choices depend on the whole future: compare the total only.
                hits, _ = simulator.run(lines, policy, size)
                if sum(claimed) != hits:
                    fail(where, f"{sum(claimed)} hits in the table, cache-audit says {hits}")
                continue
            before = 0
            for index in range(len(lines)):
                hits, _ = simulator.run(lines[: index + 1], policy, size)
                if (hits > before) != claimed[index]:
                    actual = "hit" if hits > before else "miss"
                    fail(where, f"request {index + 1} ({keys[index]}): the table says {body[index][hit_column]}, cache-audit says {actual}")
                before = hits
        else:
            fail(where, f"unknown check '{kind}'")


# ------------------------------------------------------------ built book

RESOURCE_TAG = re.compile(r"<(script|img|link|iframe|source|video|audio|embed|object|image|use)\b[^>]*>", re.I)
ATTRIBUTE = re.compile(r"\b(href|src|xlink:href|data)\s*=\s*\"([^\"]*)\"", re.I)
ID = re.compile(r"\bid\s*=\s*\"([^\"]+)\"")


def ids_of(page: Path, cache: dict) -> set[str]:
    if page not in cache:
        cache[page] = set(html.unescape(value) for value in ID.findall(page.read_text(errors="replace")))
    return cache[page]


def check_built_book():
    if not (OUT / "index.html").is_file():
        fail(rel(OUT), "no built book: run `mdbook build book` first")
        return
    id_cache: dict = {}
    for page in sorted(OUT.rglob("*.html")):
        text = page.read_text(errors="replace")
        where = rel(page)
        count("pages")
        for tag in RESOURCE_TAG.finditer(text):
            for _, value in ATTRIBUTE.findall(tag.group(0)):
                if re.match(r"^(https?:)?//", value, re.I):
                    fail(where, f"loads a resource from the network: {value}")
        main = re.search(r"(?s)<main>(.*)</main>", text)
        for attribute, value in ATTRIBUTE.findall(main.group(1) if main else text):
            value = html.unescape(value)
            if re.match(r"^[a-z][a-z0-9+.-]*:", value, re.I) or value.startswith("//"):
                continue
            count("built links")
            path_part, _, fragment = value.partition("#")
            path_part = path_part.split("?", 1)[0]
            target = (page.parent / path_part).resolve() if path_part else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                fail(where, f"{attribute}=\"{value}\": no such file in the built book")
            elif fragment and target.suffix == ".html" and fragment not in ids_of(target, id_cache):
                fail(where, f"{attribute}=\"{value}\": no id \"{fragment}\" in {rel(target)}")
    for sheet in OUT.rglob("*.css"):
        for url in re.findall(r"url\(\s*['\"]?([^)'\"]+)", sheet.read_text(errors="replace")):
            if re.match(r"^(https?:)?//", url, re.I):
                fail(rel(sheet), f"loads a resource from the network: {url}")
        for url in re.findall(r"@import\s+['\"]([^'\"]+)", sheet.read_text(errors="replace")):
            if re.match(r"^(https?:)?//", url, re.I):
                fail(rel(sheet), f"imports a style sheet from the network: {url}")


def check_config():
    config = tomllib.loads((BOOK / "book.toml").read_text())
    html_config = config.get("output", {}).get("html", {})
    if html_config.get("mathjax-support", False):
        fail("book/book.toml", "mathjax-support loads MathJax from a CDN: keep it off")
    if html_config.get("playground", {}).get("runnable", True):
        fail("book/book.toml", "[output.html.playground] runnable must be false (it sends code to play.rust-lang.org)")
    if config.get("build", {}).get("create-missing", True):
        fail("book/book.toml", "[build] create-missing must be false, or a missing chapter becomes an empty page")
    for key in ("additional-js", "additional-css"):
        for item in html_config.get(key, []):
            if re.match(r"^(https?:)?//", item):
                fail("book/book.toml", f"{key} from the network: {item}")


# ------------------------------------------------------------------ diffs

DIFF_BLOCK = re.compile(r"```console\n\$ diff (\S+) (\S+)\n(.*?)```", re.DOTALL)


def diff_output(a: str, b: str) -> str:
    result = subprocess.run(["diff", a, b], cwd=ROOT, capture_output=True, text=True)
    if result.returncode not in (0, 1):
        raise RuntimeError(result.stderr.strip())
    return result.stdout


def check_diffs(md: Path, text: str, fix: bool) -> str:
    """Checks (or, with `fix`, writes) the output shown under each `$ diff A B`; returns the text."""

    def replace(match):
        count("diff outputs")
        a, b, shown = match.group(1), match.group(2), match.group(3)
        where = f"{rel(md)}:{line_of(text, match.start())}"
        try:
            real = diff_output(a, b)
        except RuntimeError as error:
            fail(where, f"diff {a} {b}: {error}")
            return match.group(0)
        if shown != real and not fix:
            fail(where, f"the output shown under `diff {a} {b}` is not what it prints (python3 book/check.py --fix-diffs)")
        return f"```console\n$ diff {a} {b}\n{real}```"

    new = DIFF_BLOCK.sub(replace, text)
    if fix and new != text:
        md.write_text(new)
    return new


# ------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-audit", help="the cache-audit binary for the worked examples")
    parser.add_argument("--no-build-check", action="store_true", help="skip the built-book checks")
    parser.add_argument("--fix-diffs", action="store_true", help="write the real output under every `$ diff`")
    args = parser.parse_args()

    members = workspace_members()
    cases = known_cases()
    simulator = []

    def simulator_factory():
        if not simulator:
            simulator.append(Simulator(find_cache_audit(args.cache_audit)))
        return simulator[0]

    pages = sorted(SRC.rglob("*.md"))
    reachable = set(summary_chapters())
    for md in pages:
        text = check_diffs(md, md.read_text(), args.fix_diffs)
        for match in INCLUDE.finditer(text):
            check_include(md, text, match, members)
            reachable.add((md.parent / match.group(2).partition(":")[0]).resolve())
        for match in OTHER_DIRECTIVE.finditer(text):
            if match.group(1) not in ("include", "rustdoc_include"):
                fail(f"{rel(md)}:{line_of(text, match.start())}", f"{{{{#{match.group(1)}}}}} is not checked by this script")
        check_fences(md, text)
        check_links(md, text)
        prose = INCLUDE.sub("", text)
        for match in CASE_REF.finditer(prose):
            count("case references")
            name = match.group(0)
            if name not in cases:
                fail(f"{rel(md)}:{line_of(prose, match.start())}", f"no conformance case {name} in {rel(CASES)}")
        for match in TEST_REF.finditer(prose):
            count("test references")
            file, test = ROOT / match.group(1), match.group(2)
            if not file.is_file():
                fail(rel(md), f"{match.group(1)} does not exist")
            elif not re.search(rf"\bfn {re.escape(test)}\b", file.read_text()):
                fail(rel(md), f"no fn {test} in {match.group(1)}")
        check_examples(md, text, simulator_factory)
    for md in pages:
        if md.name != "SUMMARY.md" and md.resolve() not in reachable and "measurements" not in md.parts:
            fail(rel(md), "not in SUMMARY.md and not included anywhere: nobody can reach it")

    check_config()
    if not args.no_build_check:
        check_built_book()

    summary = ", ".join(f"{n} {what}" for what, n in counts.items())
    if errors:
        print("\n".join(f"error: {error}" for error in errors), file=sys.stderr)
        print(f"book check: {len(errors)} error(s) ({summary})", file=sys.stderr)
        return 1
    print(f"book check: ok ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
