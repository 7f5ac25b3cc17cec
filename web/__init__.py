"""The Quart app: JSON API blueprints (``web.api``), HTML pages (``web.pages``), SSE feeds."""
