"""The ``!spico`` commands, one module per group; each command is declared where it is written
(``bridge.matrix.commands.registry.command``). Every module of this package is loaded."""
