"""Tests of the criteria plugin (a package, so its conftest does not shadow the root ``conftest`` module)."""
