"""DVLA-style share codes: a citizen shows chosen items of their driving licence record to a third party.

Legal basis: the citizen's consent (``consents``), not a Part 5 gateway, so
redemptions are not decided against agreements; the consent plays the
agreement's part, and DVLA's holding is read only under a grant resting on it
(``services.access.by_consent``). ``codes`` (codes and keys), ``licence`` (the
items and the governed read), ``citizen`` (creating and managing codes),
``redemption`` (the third party's side) and ``operator`` (the hub operator's view).
"""

from accord.lazy import exports

__all__, __getattr__ = exports(__name__, {
    "DATASET": "codes", "ShareCodeRefused": "codes", "ShareCodeUnusable": "codes", "TooManyAttempts": "codes",
    "normalise_code": "codes", "normalise_licence": "codes", "normalise_suffix": "codes", "display_code": "codes",
    "code_hash": "codes", "address_caller": "codes", "CODE_LENGTH": "codes", "ALPHABET": "codes",
    "new_code": "codes", "REFUSED": "codes",
    "ITEMS": "licence", "Item": "licence", "FIELD_LABELS": "licence", "ITEM_LABELS": "licence",
    "available_items": "licence", "shared_values": "licence", "licence_valid_to": "licence",
    "CreatedCode": "citizen", "create": "citizen", "my_codes": "citizen", "withdraw": "citizen",
    "receipt": "citizen", "status": "citizen", "validity_days": "citizen",
    "Redeemer": "redemption", "Redemption": "redemption", "redeem": "redemption",
    "operator_list": "operator", "prune_attempts": "operator",
    "PURPOSES": "consents",
})
