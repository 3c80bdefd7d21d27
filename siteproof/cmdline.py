"""The one helper that turns an argv into a remote shell's command line.

SSH (and testinfra, on any backend) runs a command line, not an argv; every value that reaches
one goes through here, each argument quoted, so that no inventory or topology value can become
a command. Text for a command's standard input is quoted the same way and piped in.
"""

from __future__ import annotations

import shlex


def command_line(*argv: object, stdin: str | None = None) -> str:
    """`argv` as one shell command line, every argument quoted; with `stdin`, that text piped in
    (plus a final newline, as a file would end)."""
    if not argv:
        raise ValueError("an empty command")
    line = shlex.join(str(arg) for arg in argv)  # a prefix or a path is written as its text
    if stdin is None:
        return line
    return f"printf '%s\\n' {shlex.quote(stdin)} | {line}"
