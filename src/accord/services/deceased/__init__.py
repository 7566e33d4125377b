"""The deceased check (civil registration): is this person recorded as deceased? Only true or false.

A body that stops letters and payments to people who have died asks about one
person; the hub answers ``deceased`` true or false and nothing else. ``intake``
(the person, the fields the check must read), ``matching`` (under the grant,
against the death events and GRO's holding), ``service`` (the entry point).
"""

from accord.lazy import exports

__all__, __getattr__ = exports(__name__, {"PersonDetails": "intake", "ACTION": "service", "check": "service"})
