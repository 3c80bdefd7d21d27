"""Probes: traffic and gap probers, flow counters, captures, iperf3, SSH sessions."""
