"""Loads the siteproof pytest plugin for every suite and test in this repository."""

pytest_plugins = ["fixtures.plugin"]
