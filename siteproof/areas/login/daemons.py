"""The login health agent (siteproof.areas.login.agent) as a lab daemon."""

from __future__ import annotations

from siteproof.daemons.base import PythonDaemon, register

FS_MARKER = "global/homes/.mounted"  # the file that exists while the lab's shared filesystem is "mounted"


@register
class LoginAgent(PythonDaemon):
    kind = "loginlb"
    module = "siteproof.areas.login.agent"

    def prepare(self) -> None:
        # The lab stands in for the site's shared filesystem: its marker exists until a test
        # "unmounts" it by removing the file.
        # (The lab's mount, whatever the agent is configured to check: a misdirected check is a
        # site's mistake the suite must catch, so the stand-in does not follow the config.)
        marker = self.rundir / FS_MARKER
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
