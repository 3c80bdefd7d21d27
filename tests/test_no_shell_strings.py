"""No value becomes a command: nothing in the code builds a command line by formatting or
concatenating text into run(), check_output() and the like. Commands are argv lists; where a
remote shell runs a command line, siteproof.cmdline.command_line quotes every argument (or
testinfra's own "%s" arguments do); shell=True is refused everywhere (testinfra's own ssh
line is split back into its words and run without a shell: siteproof/backends/sshbound.py)."""

from __future__ import annotations

import ast

from tests.helpers import REPO

CALLS = {"run", "check_output", "run_expect", "run_test", "check_call", "call", "Popen", "getoutput", "getstatusoutput", "system"}
FOLDERS = ("siteproof", "suites", "benchmarks")


def _formatted(node: ast.expr) -> bool:
    """Text made by formatting or joining: an f-string, "a" + b, "a %s" % b, "a {}".format(b)."""
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        sides = (node.left, node.right)
        return any(isinstance(s, ast.JoinedStr) or (isinstance(s, ast.Constant) and isinstance(s.value, str)) or _formatted(s)
                   for s in sides)
    if isinstance(node, ast.IfExp):
        return _formatted(node.body) or _formatted(node.orelse)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def findings() -> list[str]:
    found = []
    for folder in FOLDERS:
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = str(path.relative_to(REPO))
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in CALLS and node.args and _formatted(node.args[0]):
                    found.append(f"{rel}:{node.lineno}: {name}() of formatted text")
                if any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False) for k in node.keywords):
                    found.append(f"{rel}:{node.lineno}: shell=True")
    return found


def test_no_command_line_is_built_from_text():
    found = findings()
    assert not found, "commands built by formatting text (use an argv, or siteproof.cmdline.command_line):\n" + "\n".join(found)


def test_the_check_sees_what_it_forbids(tmp_path):
    samples = ['host.run(f"touch {path}")', 'host.run("rm -f " + path)', 'subprocess.run(cmd, shell=True)',
               'host.check_output("ip route show {}".format(p))', 'host.run(f"a {x}" if y else f"b {x}")']
    for sample in samples:
        tree = ast.parse(sample)
        call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
        assert (call.args and _formatted(call.args[0])) or any(k.arg == "shell" for k in call.keywords), sample
    for sample in ['host.run(command_line("touch", path))', 'host.run("nft -j list set %s", name)']:
        call = next(n for n in ast.walk(ast.parse(sample)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "run")
        assert not _formatted(call.args[0]), sample
