"""Storage: engine and session factory, models, Alembic migrations."""
