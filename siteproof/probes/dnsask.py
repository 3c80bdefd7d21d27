"""DNS questions, transfers and updates sent from a node of the site, on any backend.

With sockets in nodes (a lab) dnspython sends from inside the node. Elsewhere (a real site,
over SSH) each message is built and signed on the test host, shipped to the node as wire
bytes with a standard-library sender (siteproof.probes.dnswire), and the node's responses are
parsed and verified on the test host (TSIG included). Either way the question leaves from the
node the test names, never from the test host.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import dns.zone

from siteproof.backends.base import SOCKETS
from siteproof.probes import dnswire
from siteproof.probes.remote import run_on
from siteproof.site import Site


@dataclass(frozen=True)
class Exchange:
    """One DNS message to send and how: the answer is one message, or a transfer's stream."""

    message: dns.message.Message
    server: str
    tcp: bool = False
    timeout: float = 3.0
    xfr: bool = False


Answer = list  # the response messages of one exchange, or the exception it met


@dataclass
class From:
    """DNS calls from a node of the site (see the module), or from the test host itself (node
    None). Never from the test host in a node's stead: its answers would be another vantage's."""

    site: Site
    node: str | None

    # Messages per shipped sender: the job rides on one command line (at most 128 KiB).
    SHIPPED_BATCH = 150

    def exchange_all(self, exchanges: list[Exchange]) -> list[Answer | BaseException]:
        """Every exchange's response messages (or the exception it met), sent from the node."""
        if self.node is None:
            return _send_all_here(exchanges)
        if self.site.can(SOCKETS):  # inside the node's namespace, on the lab's worker
            return self.site.backend.call_in(self.node, lambda: _send_all_here(exchanges))
        found: list[Answer | BaseException] = []
        for start in range(0, len(exchanges), self.SHIPPED_BATCH):
            found += self._shipped(exchanges[start:start + self.SHIPPED_BATCH])
        return found

    def _shipped(self, exchanges: list[Exchange]) -> list[Answer | BaseException]:
        assert self.node is not None
        job = {"exchanges": [{"server": e.server, "tcp": e.tcp or e.xfr, "xfr": e.xfr, "timeout": e.timeout,
                              "wire": e.message.to_wire().hex()} for e in exchanges]}
        budget = sum(e.timeout * (2 if e.xfr else 1) for e in exchanges) + 30
        results = run_on(self.site.backend.run, self.node, dnswire, job, len(exchanges), budget)
        return [_captured(_parse_shipped, e, r) for e, r in zip(exchanges, results, strict=True)]

    def exchange(self, e: Exchange) -> Answer:
        answer = self.exchange_all([e])[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def message(self, server: str, name: str, rdtype: str, *, dnssec: bool = False, tcp: bool = False,
                recurse: bool = False, timeout: float = 3.0, checking_disabled: bool = False) -> Exchange:
        q = dns.message.make_query(name, rdtype, want_dnssec=dnssec, use_edns=0, payload=1232)
        if not recurse:
            q.flags &= ~dns.flags.RD
        if checking_disabled:  # CD: a validating resolver hands over what it got, bogus or not
            q.flags |= dns.flags.CD
        return Exchange(q, server, tcp, timeout)

    def query(self, server: str, name: str, rdtype: str, **kwargs: Any) -> dns.message.Message:
        return self.exchange(self.message(server, name, rdtype, **kwargs))[0]

    def queries(self, questions: list[Exchange]) -> list[dns.message.Message]:
        """Many questions from the node in one go (one shipped sender at a site); the first error raises."""
        answers = []
        for answer in self.exchange_all(questions):
            if isinstance(answer, BaseException):
                raise answer
            answers.append(answer[0])
        return answers

    def outcome(self, server: str, name: str, rdtype: str, **kwargs: Any) -> str:
        """NOERROR / REFUSED / SERVFAIL ... or why no answer came (timeout, unreachable)."""
        return self.outcomes([self.message(server, name, rdtype, **kwargs)])[0]

    def outcomes(self, questions: list[Exchange]) -> list[str]:
        """Each question's outcome as `outcome` words it, all asked at once."""
        return [_query_outcome(a) for a in self.exchange_all(questions)]

    def axfr(self, server: str, zone: str, ring: Any = None, timeout: float = 5.0) -> dns.zone.Zone:
        return dns.zone.from_xfr(iter(self.exchange(_axfr_exchange(server, zone, ring, timeout))), relativize=False)

    def axfr_outcome(self, server: str, zone: str, ring: Any = None, timeout: float = 2.0) -> str:
        return self.axfr_outcomes([(server, zone, ring)], timeout)[0]

    def axfr_outcomes(self, transfers: list[tuple[str, str, Any]], timeout: float = 2.0) -> list[str]:
        """For each (server, zone, TSIG ring or None): "allowed (N records)" or "refused (why)", all asked at once."""
        answers = self.exchange_all([_axfr_exchange(server, zone, ring, timeout) for server, zone, ring in transfers])
        return [_axfr_outcome(a) for a in answers]

    def update(self, server: str, zone: str, build: Callable[[dns.update.UpdateMessage], None],
               ring: Any = None, key_name: str | None = None) -> str:
        """Send one dynamic update; the rcode, or why it failed (BADSIG, ...). It changes the
        zone (if accepted): refused on a read-only site and in a test not marked disruptive."""
        self.site.changing(f"send a dynamic update of zone {zone} to {server}")
        msg = dns.update.UpdateMessage(zone, keyring=ring, keyname=key_name)
        build(msg)
        try:
            response = self.exchange(Exchange(msg, server, True, 5.0))[0]
        except dns.tsig.PeerError as exc:
            return f"NOTAUTH ({exc.__class__.__name__})"
        except (dns.exception.DNSException, OSError) as exc:
            return f"failed ({exc.__class__.__name__}: {exc})"
        return dns.rcode.to_text(response.rcode())


def _axfr_exchange(server: str, zone: str, ring: Any, timeout: float) -> Exchange:
    q = dns.message.make_query(zone, dns.rdatatype.AXFR)
    if ring is not None:
        q.use_tsig(ring)
    return Exchange(q, server, True, timeout, xfr=True)


def _query_outcome(answer: Answer | BaseException) -> str:
    if isinstance(answer, dns.exception.Timeout):
        return "no answer (timeout)"
    if isinstance(answer, OSError):
        return f"no answer ({answer.strerror or answer.__class__.__name__})"
    if isinstance(answer, BaseException):
        raise answer
    return dns.rcode.to_text(answer[0].rcode())


def _axfr_outcome(answer: Answer | BaseException) -> str:
    try:
        if isinstance(answer, BaseException):
            raise answer
        z = dns.zone.from_xfr(iter(answer), relativize=False)
        return f"allowed ({sum(1 for _ in z.iterate_rdatas())} records)"
    except dns.query.TransferError as exc:
        return f"refused ({dns.rcode.to_text(exc.rcode)})"
    except dns.exception.Timeout:
        return "refused (no answer)"
    except (dns.exception.DNSException, OSError, EOFError) as exc:
        return f"refused ({exc.__class__.__name__})"


def _send_all_here(exchanges: list[Exchange]) -> list[Answer | BaseException]:
    """Every exchange at once, in threads (started here, they share this thread's namespace):
    questions that must go unanswered then cost one timeout, not one each."""
    if len(exchanges) <= 1:
        return [_captured(_send_here, e) for e in exchanges]
    with ThreadPoolExecutor(max_workers=min(16, len(exchanges))) as pool:
        return list(pool.map(lambda e: _captured(_send_here, e), exchanges))


def _captured(fn: Callable[..., Answer], *args: Any) -> Answer | BaseException:
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - each exchange's own failure, raised by its caller
        return exc


def _send_here(e: Exchange) -> Answer:
    """Send from this process (inside the node's namespace, on a lab)."""
    if e.xfr:
        zone = e.message.question[0].name
        return list(dns.query.xfr(e.server, zone, keyring=e.message.keyring, timeout=e.timeout,
                                  lifetime=e.timeout * 2, relativize=False))
    send = dns.query.tcp if e.tcp else dns.query.udp
    return [send(e.message, e.server, timeout=e.timeout)]


def _parse_shipped(e: Exchange, result: dict) -> Answer:
    """The node's responses, parsed and verified here as dnspython does for its own sockets."""
    error = result.get("error")
    if error == "timeout":
        raise dns.exception.Timeout
    if error == "eof":
        raise EOFError(result.get("text", "connection closed"))
    if error:
        raise OSError(result.get("errno", 0), result.get("text", "error"))
    q, messages, tsig_ctx = e.message, [], None
    for i, wire in enumerate(bytes.fromhex(w) for w in result["wires"]):
        r = dns.message.from_wire(wire, keyring=q.keyring, request_mac=q.mac, xfr=e.xfr,
                                  tsig_ctx=tsig_ctx, multi=e.xfr)
        if not q.is_response(r, xfr_continuation=e.xfr and i > 0):
            raise dns.query.BadResponse
        if e.xfr and r.rcode() != dns.rcode.NOERROR:
            raise dns.query.TransferError(r.rcode())
        tsig_ctx = r.tsig_ctx
        messages.append(r)
    return messages
