"""Rule families, one module each. Each returns the reasons to deny (empty: no objection)."""
