"""The code examples of README.md and docs/*.md, and a small runner for their shell lines.

A block is one fenced code block with a language (```python, ```bash, ```sh,
```yaml); its name is `FILE#N`, N counting the file's code blocks from 1, so
a test can say which blocks it runs and which it cannot, and a new block
without either fails (tests/test_docs_examples.py).

Shell blocks are read line by line, as bash would: `\\` joins lines, `#`
starts a comment, `NAME=value` sets a variable (`$NAME`, `$PWD` expand),
`echo '...' | kseq2seq ...` feeds standard input. Nothing else of bash is
needed by the docs, and anything else is an error here, not a silent skip.
"""

import dataclasses
import glob
import os
import re
import shlex

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


@dataclasses.dataclass
class Block:
    name: str  # "docs/serving.md#3"
    language: str
    code: str
    line: int  # of the opening fence, for messages


def doc_files():
    return ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))


def blocks(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    return [Block(f"{path}#{n}", m.group(1), m.group(2), text[: m.start()].count("\n") + 1)
            for n, m in enumerate(_FENCE.finditer(text), start=1)]


def all_blocks():
    return [block for path in doc_files() for block in blocks(path)]


@dataclasses.dataclass
class Command:
    argv: list
    env: dict  # NAME=value given before the command on its line
    stdin: str = None  # what `echo '...' |` feeds it
    text: str = ""  # the line as written (continuations joined), for bash


def shell_commands(code, variables):
    """The commands of a shell block, with variables expanded; `variables` gains the block's assignments."""
    commands = []
    for line in re.sub(r"\\\n", " ", code).splitlines():
        words = shlex.split(line, comments=True)
        env = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            name, value = words.pop(0).split("=", 1)
            env[name] = _expand(value, variables)
        if not words:
            variables.update(env)  # a line of assignments only: a shell variable
            continue
        stdin = None
        if words[0] == "echo" and "|" in words:
            bar = words.index("|")
            stdin, words = " ".join(words[1:bar]) + "\n", words[bar + 1:]
        elif "|" in words:
            raise ValueError(f"Expected at most `echo ... |` in a docs command. Received: {line!r}")
        commands.append(Command([_expand(word, variables) for word in words], env, stdin, line))
    return commands


def _expand(word, variables):
    return re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: variables.get(m.group(1) or m.group(2), m.group(0)), word)


def written_paths(code):
    """Files and folders a block says it writes: `--output`/`--report` values, and path literals given to
    export/save calls or `path=`, so a test can check that running the block wrote them."""
    paths = re.findall(r"--(?:output|report) (\S+)", code)
    paths += re.findall(r"\.(?:export|save_to_preset|save)\(\s*\"([^\"]+)\"", code)
    paths += re.findall(r"path=\"([^\"]+)\"", code) + re.findall(r", \"([^\"]+\.png)\"\)", code)
    return paths
