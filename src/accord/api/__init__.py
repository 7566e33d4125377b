"""The HTTP API. Its OpenAPI document is the contract."""
