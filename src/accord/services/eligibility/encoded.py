"""Encoded (privacy-preserving) customer lists: linked on Bloom filters, never on plaintext identifiers.

The supplier and the discloser encode their records with ``accord encode`` under the
agreement's key, derived from a secret they share and the hub never holds; the
discloser's encoding uses its holding's ``record_id`` as ids (``load_encoded_claimants``,
its own act, like loading a holding). The hub links the two encodings chunk by chunk
on Dice similarity, then keeps only the matched records the discloser's plaintext
holding says qualify (read under the job's grant) and names them in the audit log.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from accord.errors import Conflict, Forbidden, InvalidInput
from accord.registry.datasets import get_dataset
from accord.runtime import Hub
from accord.services.eligibility.intake import _check_references
from accord.services.eligibility.terms import terms_for


def _pprl():  # noqa: ANN202 - the linkage engine's PPRL module, or a clear refusal without it
    try:
        from accord.linkage import pprl
    except ImportError:
        raise InvalidInput("privacy-preserving linkage (accord.linkage.pprl) is not installed on this hub") from None
    return pprl


def encoded_claimants_path(hub: Hub, agreement_id: str) -> Path:
    return hub.settings.data_dir / "eligibility" / f"{agreement_id}.claimants.pprl.parquet"


def load_encoded_claimants(hub: Hub, agreement_id: str, body_id: str, source: Path, name: str | None = None) -> dict:
    """The source body's own encoding of its claimants, for linking encoded customer lists.

    Made with ``accord encode`` under the agreement's key (the secret the parties
    share and the hub never holds), with the holding's ``record_id`` as ids, so the
    hub can tell from its plaintext holding which matched records qualify and
    whom to name in the audit log. Only the body that holds the dataset may send it.
    """
    pprl = _pprl()
    name = name or source.name
    with hub.transaction() as session:
        terms = terms_for(session, agreement_id, body_id)
        owner = get_dataset(session, terms.dataset_id).body_id
    if body_id != owner:
        raise Forbidden(f"only {owner}, which holds {terms.dataset_id}, may provide its encoding")
    table = pprl.read_encoded(source, name)
    params = pprl.encoding_of(table.schema, name)
    if params.get("agreement_id") != agreement_id:
        raise InvalidInput(f"{name}: encoded for agreement {params.get('agreement_id')!r}, not {agreement_id!r}; "
                           f"encode it again with --agreement {agreement_id}")
    _check_references(table.column("id"), "id", name)
    target = encoded_claimants_path(hub, agreement_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, temp, compression="zstd")
    os.replace(temp, target)
    return {"agreement_id": agreement_id, "dataset_id": terms.dataset_id, "rows": table.num_rows,
            "key_version": params.get("key_version"), "key_fingerprint": params.get("key_fingerprint")}


def validate_encoded(hub: Hub, source: Path, agreement_id: str, name: str) -> pa.Table:
    """An encoded customer list checked whole: encoded for this agreement, with the same parameters and
    key as DWP's encoding, and one non-empty, unique account reference (its ``id``) per row."""
    pprl = _pprl()
    table = pprl.read_encoded(source, name)
    params = pprl.encoding_of(table.schema, name)
    if params.get("agreement_id") != agreement_id:
        raise InvalidInput(f"{name}: encoded for agreement {params.get('agreement_id')!r}, not {agreement_id!r}")
    if table.num_rows == 0:
        raise InvalidInput(f"{name}: the file has no customer rows")
    claimants = encoded_claimants_path(hub, agreement_id)
    if not claimants.is_file():
        raise Conflict(f"{name}: the list is encoded, but the discloser has not provided an encoding of its "
                       f"claimants for agreement {agreement_id} to link it with; send plain identifiers, or "
                       "ask it to (accord eligibility claimants)")
    theirs = pprl.encoding_of(pq.read_schema(claimants), "the claimants' encoding")
    try:
        pprl.check_compatible(params, theirs)
    except InvalidInput as refused:
        raise InvalidInput(f"{name}: cannot be linked with the claimants' encoding: {refused.detail}") from None
    references = _check_references(table.column("id"), "id", name)
    filters = [c for c in table.column_names if c.startswith("bf_")]
    out = pa.table({"_row": pa.array(range(table.num_rows), type=pa.int64()), "account_reference": references,
                    **{c: table.column(c) for c in filters}})
    return out.replace_schema_metadata(table.schema.metadata)
