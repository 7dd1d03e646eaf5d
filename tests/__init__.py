"""The host test suite (a package only so tests can import tests.support)."""
