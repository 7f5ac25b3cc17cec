"""Server-rendered pages (Quart + Jinja + htmx): one blueprint per area, cookie sessions."""
