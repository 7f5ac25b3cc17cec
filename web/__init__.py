"""The Quart app: JSON API blueprints (``web.api``), later the HTML pages (``web.pages``)."""
