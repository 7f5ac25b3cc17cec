"""The control socket (``/run/cloudclaude/ctl.sock``) and its client, ``cloudclaudectl``.

Every command is declared in one place, ``commands/<area>.py`` (DESIGN.md 12.12): its request
class carries ``@command(op, help, *args, printer=...)``, and the coroutine right below it,
``@handles(RequestClass)``, is what the daemon does with it. The parser, the request an argv
makes, the tagged-union codec, the printing and the dispatch all derive from that registry
(``registry``, ``messages``, ``server.dispatch``). Adding a command is one edit (request class,
arguments, printer, handler, side by side) plus its test; a test checks that every declared
command has exactly one handler.

The client imports the same modules, so they stay light: the handlers' functions are defined
there but never run, and whatever only the daemon has (``server.Context`` and the services
behind it, ``core.health`` and the database it reaches) a handler imports for type checking
only or in its body. The client side (``registry``, ``commands``, ``exit_args``, ``messages``,
``client``, ``cli``) thus loads no daemon module beyond ``agent.protocol``, ``core.codec``,
``core.timefmt``, ``errors``, ``model`` and ``domain.exit_schema`` (tested, in a fresh
interpreter). ``server`` runs in the daemon and reaches data only through the domain services
on ``cloudclaude.app.wiring.Services``.
"""
