"""Start-up: the ``cloudclaude`` command, ``make up``'s runner, the supervisor and the wiring.

The only place that knows every component; it builds the domain services once and hands them
to the web app, the SSH proxy, the control socket and the background scanners.
"""
