"""This checkout's pytest set-up: siteproof's plugin (siteproof/fixtures/: options, sites,
faults, evidence, the report and every area's fixtures) for the suites and the project's tests.
It is activated here and nowhere else: a pytest run elsewhere in the same environment loads
nothing of siteproof. Suites of your own outside the checkout get it with
`-p siteproof.fixtures.plugin`."""

pytest_plugins = ["siteproof.fixtures.plugin"]
