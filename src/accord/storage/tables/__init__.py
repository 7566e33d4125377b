"""Tables of the purpose services, one module per service, on the same ``Base`` as the core models.

``accord.storage.models`` imports these at its end, so ``Base.metadata`` (and with it Alembic's
comparison and the tests' table reset) always sees every table.
"""
