"""The control socket (``/run/cloudclaude/ctl.sock``) and its client, ``cloudclaudectl``.

Every command is one declaration: ``@command(op, help, *args, printer=...)`` on its request
class in ``commands/<area>.py`` (DESIGN.md 12.12). The parser, the request an argv makes, the
tagged-union codec and the printing are derived from that registry (``registry``,
``messages``); all of it is client-safe, so ``cloudclaudectl`` never imports the daemon.
What a command does lives on the daemon's side, in ``handlers/<area>.py``, attached to the
request class with ``@handles(RequestClass)``; a test checks that every declared command has
exactly one handler. Adding a command: its declaration, its handler, its test.

The client side (``registry``, ``commands``, ``exit_args``, ``messages``, ``client``, ``cli``)
loads no daemon module beyond ``agent.protocol``, ``core.codec``, ``errors`` and
``domain.exit_schema`` (tested); ``handlers`` and ``server`` run in the daemon and reach data
only through the domain services on ``cloudclaude.app.wiring.Services``.
"""
