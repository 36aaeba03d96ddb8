"""The local tooling's commands, added to ``classlink-sync`` when this package is installed (the
``dev`` extra): see ``classlink_sync.cli``."""

# Modules under classlink_local.cli that register commands, in help order.
COMMAND_MODULES: tuple[str, ...] = ("demo", "daily", "tables", "stack_cmd", "serve", "emulator_cmd")
