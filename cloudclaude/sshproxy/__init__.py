"""The SSH proxy on :2222 and the web terminal's shell stream (asyncssh under trio-asyncio).

Owns the SSH edge: logins (keys, host passwords, tickets), routing by user name to a box,
auto-start, and the relay to each box's sshd over a socket the agent opens inside the box.
One of the two places asyncio may run (with ``db``); reaches data through ``domain``.
"""
