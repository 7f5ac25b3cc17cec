"""The asyncpg island: the pool and listener (trio-asyncio), the private cluster, migrations and
the repositories (``repos/``). All SQL lives here, and only here is asyncpg imported.
"""
