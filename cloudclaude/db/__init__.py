"""PostgreSQL access. asyncio (asyncpg) is confined to this package, bridged with trio-asyncio."""
