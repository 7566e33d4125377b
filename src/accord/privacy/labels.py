"""Every key-derivation label Accord uses, in one place.

Each key the hub needs is derived (HKDF-SHA256) from its one secret, or from an
agreement's shared secret, with a label naming the key's one use and version. Two
uses never share a label, so no key can stand in for another; a new version of a
label retires every key made with the old one. Nothing else in Accord spells a label.
"""

from __future__ import annotations

# From the hub's secret (ACCORD_SECRET_KEY).
AUDIT_SUBJECTS = "accord/audit-subjects/v1"  # subject keys in the audit log
IDEMPOTENCY = "accord/api/idempotency/v1"  # keyed hashes of requests kept for replays
JOB_STATUS_PAGE = "accord/jobs/status-page/v1"  # a job's status page link
SHARE_CODE = "accord/sharecodes/code/v{version}"  # share codes kept as keyed hashes
SHARE_CODE_CALLER = "accord/sharecodes/address/v1"  # an anonymous checker's address, hashed
SHARE_CODE_LOCATOR = "accord/sharecodes/record-locator/v1"  # the sealed pointer to a licence record
THROTTLE_KEYS = "accord/throttle/keys/v1"  # client ids and addresses, hashed, in the throttle counters
WEB_SESSIONS = {  # signed cookies of the pages
    "citizen": "accord/web/citizen-session/v1",
    "officer": "accord/web/officer-oidc-flow/v1",
}

# From an agreement's shared secret, which the parties hold and the hub never does.
PPRL_FINGERPRINT = b"accord/pprl/v1/key-fingerprint"


def webhook_label(subscription_id: str, version: int) -> str:
    """A subscription's webhook signing secret."""
    return f"accord/events/webhook/v1/{subscription_id}/{version}"


def share_code_label(version: int) -> str:
    return SHARE_CODE.format(version=version)


def pprl_agreement_label(agreement_id: str, version: int) -> bytes:
    """An agreement's Bloom-filter key, from the parties' shared secret."""
    return f"accord/pprl/v1/agreement/{agreement_id}/key-version/{version}".encode()


def pprl_field_label(field: str) -> bytes:
    """One field's hashing key within an agreement's Bloom-filter key."""
    return f"accord/pprl/v1/field/{field}".encode()
