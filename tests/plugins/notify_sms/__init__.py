"""Tests of the SMS plugin (a package, so its conftest does not shadow the root ``conftest`` module)."""
