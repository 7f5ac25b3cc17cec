"""cloudclaude-agent: the only privileged process (Docker, netns, nftables, sing-box).

It imports nothing from ``cloudclaude`` or ``web``; the daemon imports the wire contract from
``agent.protocol``.
"""
