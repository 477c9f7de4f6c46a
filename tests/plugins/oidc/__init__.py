"""Tests of the OIDC sign-in plugin (a package, so its conftest does not shadow the root ``conftest`` module)."""
