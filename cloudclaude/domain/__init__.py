"""The domain layer: the rules of accounts, hosts, host tasks, exits and the audit log.

The only way ``web/`` and ``ctl/`` reach data and the agent. Each service here checks its
input, writes through ``cloudclaude.db`` repositories inside one transaction with its audit
event, and asks the agent for what needs root. May import ``db``, ``model``, ``errors``,
``auth``, ``core`` and ``agent_client``; never ``web``, ``ctl`` or ``sshproxy``.
"""
