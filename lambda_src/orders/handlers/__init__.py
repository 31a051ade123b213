"""Lambda entry points: api (HTTP API v2), direct (JSON invoke), migrate (custom resource)."""
