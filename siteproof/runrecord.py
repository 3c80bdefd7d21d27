"""What one test run recorded for its report: verdicts, behaviours, measurements, the sites it
used and what their teardown left. Plain data that survives JSON, so that the records of
parallel workers (pytest-xdist) merge into the one record a serial run would have made.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

# Parts of a name that make its value a secret ("key" as a whole word: a pkey is no secret).
SECRET_PARTS = ("tsig", "secret", "password", "passwd", "community", "token")
SECRET_WORDS = ("key", "psk", "pw")


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    words = re.split(r"[^a-z0-9]+", lowered)
    return any(part in lowered for part in SECRET_PARTS) or any(word in SECRET_WORDS for word in words)


def redacted(name: str, value: Any) -> Any:
    """A parameter's value as a report may show it: anything named like a secret is hidden."""
    return "<redacted>" if is_secret_name(name) else value


_SECRET_VALUE = re.compile(r'(?i)\b(secret|auth_pass|password|passwd|psk)(["\s]*[:=]?["\s]*)([^\s";]{6,})')


def redacted_text(text: str) -> str:
    """Config text as a report may show it: the value after a secret's keyword hidden."""
    return _SECRET_VALUE.sub(r"\1\2<redacted>", text)


def plain(value: Any) -> Any:
    """A JSON-safe copy (what a worker can send and a report can print)."""
    return json.loads(json.dumps(value, default=str))


@dataclass
class SiteUsed:
    name: str
    kind: str
    parameters: dict[str, Any]
    budgets: list[list[Any]]  # report.budgets_html's rows: (name, unit, value, source)


@dataclass
class RunRecord:
    # Every collected test, in collection order, with the behaviour IDs it proves.
    behaviours: dict[str, list[str]] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)  # nodeid -> passed, failed, skipped, error
    measurements: dict[str, dict[str, Any]] = field(default_factory=dict)  # nodeid -> what it recorded
    sites: dict[str, SiteUsed] = field(default_factory=dict)  # every site the run tested (labs may be gone)
    problems: list[str] = field(default_factory=list)  # teardown leftovers, workers lost
    limits: dict[str, list[list[Any]]] = field(default_factory=dict)  # nodeid -> [what, value, limit, verdict]
    bounds: dict[str, dict[str, float]] = field(default_factory=dict)  # nodeid -> measurement -> its limit (for trends)
    messages: dict[str, str] = field(default_factory=dict)  # nodeid -> its failure's first line
    evidence: dict[str, str] = field(default_factory=dict)  # nodeid -> its evidence as HTML (no attachments)

    def add_site(self, key: str, name: str, kind: str, parameters: dict[str, Any], budgets: list[tuple[Any, ...]]) -> None:
        self.sites[key] = SiteUsed(name, kind, {k: plain(redacted(k, v)) for k, v in sorted(parameters.items())},
                                   [plain(list(row)) for row in budgets])

    def ordered_measurements(self) -> list[tuple[str, dict[str, Any]]]:
        """Measurements in collection order (a parallel run finishes tests in another order)."""
        rank = {nodeid: i for i, nodeid in enumerate(self.behaviours)}
        return sorted(self.measurements.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        record = cls(**{k: v for k, v in data.items() if k != "sites"})
        record.sites = {k: SiteUsed(**v) for k, v in data.get("sites", {}).items()}
        return record

    def merge(self, other: RunRecord) -> None:
        """Add a worker's record. Every worker collects every test, so the first one's
        collection order is the run's; verdicts and numbers are each test's own."""
        if not self.behaviours:
            self.behaviours = dict(other.behaviours)
        else:
            for nodeid, ids in other.behaviours.items():
                self.behaviours.setdefault(nodeid, ids)
        self.outcomes.update(other.outcomes)
        self.measurements.update(other.measurements)
        self.limits.update(other.limits)
        self.bounds.update(other.bounds)
        self.messages.update(other.messages)
        self.evidence.update(other.evidence)
        self.sites.update(other.sites)
        self.problems.extend(p for p in other.problems if p not in self.problems)
