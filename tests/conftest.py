"""Shared pytest configuration: server fixtures live in tests/fixtures/ and are registered here."""

pytest_plugins = [
    "tests.fixtures.ports",
    "tests.fixtures.postgres",
    "tests.fixtures.sqlite",
    "tests.fixtures.sandbox",
    "tests.fixtures.bridge",
    "tests.fixtures.synapse",
    "tests.fixtures.mailserver",
    "tests.fixtures.worlds",
    "tests.fixtures.tls",
]
