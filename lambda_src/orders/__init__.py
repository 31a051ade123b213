"""Orders service: a proxy-safe PostgreSQL connection layer, Lambda handlers and migrations."""
