"""The one-command local demo: the SPICO sandbox, a local Synapse, local Postfix + Dovecot and
the bridge, on embedded defaults.

Everything lives under the state folder (``.state`` by default, ``--state-dir``): the
sandbox's SQLite file, the bridge's, Synapse's and the mail servers' state, generated secrets,
logs, the config the bridge runs with (``spico-bridge.demo.yaml``) and ``demo.json`` (what the
demo started, where, and a sample conversation to try, for scripts and tests). Every server
listens on 127.0.0.1 only, on fixed ports by default (see :data:`DEFAULT_PORTS`), or on free
ports the demo picks (``--ports auto``), or on the ports given (``--port NAME=N``).

Every demo member (the members of the seeded demo conversations) gets a Matrix account
(``@pro<idNat>:localhost``) and a mailbox (their MSSanté address in the directory), so a
reply typed in a member's mailbox shows up in the conversation's Matrix room, and the other
way round. ``Ctrl-C`` stops everything this started, by PID.
"""

from __future__ import annotations

from bridge.demo.ports import DEFAULT_PORTS, choose_ports, parse_port_overrides
from bridge.demo.run import add_demo_arguments, demo_command, run_demo
from bridge.demo.settings import demo_config
from bridge.demo.state import INFO_NAME, DemoError
from bridge.demo.texts import READY_LINE

__all__ = [
    "DEFAULT_PORTS",
    "INFO_NAME",
    "READY_LINE",
    "DemoError",
    "add_demo_arguments",
    "choose_ports",
    "demo_command",
    "demo_config",
    "parse_port_overrides",
    "run_demo",
]
