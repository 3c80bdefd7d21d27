"""Mutation testing of a topology's network configs: what would the suites miss on this site?"""

from siteproof.mutate import ops_dns, ops_keepalived, ops_kernel, ops_nft, ops_services  # noqa: F401 (they register)
from siteproof.mutate.registry import OPERATORS, Candidate, Operator

__all__ = ["OPERATORS", "Candidate", "Operator"]
