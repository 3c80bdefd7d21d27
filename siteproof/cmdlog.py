"""The command log of a lab played as a site: sshd's ForceCommand, on every management sshd.

`python -m siteproof.cmdlog LOGFILE` records the command an SSH client asked for (one JSON line
per command, with the client's address, under a lock) and then runs it with the user's shell, as sshd would have. A
project test reads the log after a read-only run and checks every command against the
read-only allowlist: read-only is then what the hosts saw, not what the code meant.
"""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import sys
import time

ENV = "SSH_ORIGINAL_COMMAND"
COMMANDS_FILE = "commands.jsonl"  # in the management sshd's run folder


def record(logfile: str, command: str, client: str = "") -> None:
    with open(logfile, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(json.dumps({"at": time.time(), "command": command, "from": client}) + "\n")


def main() -> None:
    command = os.environ.get(ENV, "")
    # The client's address tells the runner's commands from a site daemon's own (a NAT tracker's).
    record(sys.argv[1], command, os.environ.get("SSH_CONNECTION", "").partition(" ")[0])
    shell = pwd.getpwuid(os.getuid()).pw_shell or "/bin/sh"
    if command:
        os.execv(shell, [shell, "-c", command])
    os.execv(shell, [shell, "-l"])


if __name__ == "__main__":
    main()
