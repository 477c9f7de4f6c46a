"""Perlinsos: the plugin-based GraphQL backend for digitised social assistance (bansos).

Plugins import :data:`hookimpl` from here to implement hooks of :mod:`perlinsos.hookspecs`.
"""

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "perlinsos"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "__version__", "hookimpl"]
