"""Topology files: schema, model, parameters, variants and config rendering."""

from siteproof.topology.loader import load_topology
from siteproof.topology.model import DaemonSpec, Interface, Link, Node, Route, Topology

__all__ = ["DaemonSpec", "Interface", "Link", "Node", "Route", "Topology", "load_topology"]
