"""The core's commands, one module per thing they act on; ``perlinsos.cli`` assembles them
under the ``perlinsos`` group (plugins add theirs through ``register_commands``)."""
