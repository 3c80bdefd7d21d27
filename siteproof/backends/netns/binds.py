"""Run one command with containerlab-style binds: `python -m siteproof.backends.netns.binds
--upper DIR --bind SOURCE:TARGET[:ro|rw] ... -- COMMAND...` (in the node's namespace).

The command gets a mount namespace of its own in which each bind is mounted at its target,
as a container would see it. A target that does not exist on this machine is made inside an
overlay on its nearest existing parent directory, whose writes land in the node's folder
(DIR), so nothing outside the lab is created or changed.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
from pathlib import Path

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {source or ''} on {target}")


def _make_room(target: Path, is_dir: bool, upper: Path, overlaid: set[Path]) -> None:
    """Create target (and its missing parents) in an overlay on its nearest existing parent."""
    ancestor = target.parent
    while not ancestor.is_dir():
        ancestor = ancestor.parent
    if ancestor == Path("/"):
        raise OSError(f"bind target {target}: its top directory does not exist on this machine "
                      f"(containerlab would find it in the image)")
    if ancestor not in overlaid:
        work = upper / hashlib.sha256(str(ancestor).encode()).hexdigest()[:16]
        (work / "upper").mkdir(parents=True, exist_ok=True)
        (work / "work").mkdir(parents=True, exist_ok=True)
        _mount("overlay", str(ancestor), "overlay", 0,
               f"lowerdir={ancestor},upperdir={work / 'upper'},workdir={work / 'work'}")
        overlaid.add(ancestor)
    target.parent.mkdir(parents=True, exist_ok=True)
    if is_dir:
        target.mkdir(exist_ok=True)
    else:
        target.touch()


def main(argv: list[str]) -> int:
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    upper = Path(options[options.index("--upper") + 1])
    binds = [options[i + 1] for i, o in enumerate(options) if o == "--bind"]
    try:
        _check(_libc.unshare(CLONE_NEWNS), "unshare")
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing of ours propagates to the machine
        overlaid: set[Path] = set()
        for bind in binds:
            source, target, *mode = bind.split(":")
            if not os.path.lexists(target):
                _make_room(Path(target), os.path.isdir(source), upper, overlaid)
            _mount(source, target, None, MS_BIND | MS_REC)
            if mode == ["ro"]:
                _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    except OSError as exc:
        print(f"siteproof: binds: {exc.strerror or exc}", file=sys.stderr)
        return 126
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"siteproof: exec {command[0]!r}: {exc.strerror}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
