"""Database backends of our own: Django's, with one change each (see the modules)."""
