"""Model objects returned by the repositories: frozen attrs classes, never database records."""
