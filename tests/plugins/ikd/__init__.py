"""Tests of the IKD plugin (a package, so its conftest does not shadow the root ``conftest`` module)."""
