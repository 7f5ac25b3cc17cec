"""The credentials endpoint: each running box's Claude Code talks to it, never to Anthropic.

The agent makes a listening socket inside the box's gateway (only that box reaches it) and
hands it to the daemon; requests arriving there get the real key of the box's user put in and
go to ``credentials.anthropic_upstream`` through the gateway's sing-box, so out by the box's
exit. The key never enters the box. Token counts are read from the answers (streamed or not)
and recorded per user; budgets are enforced here. Reaches data only through ``domain``; trio.
"""
