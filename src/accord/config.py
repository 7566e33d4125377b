"""Settings, validated once at start-up and passed in (no import-time globals).

Every setting is read from an ``ACCORD_*`` environment variable. Outside
development and test, the default secret key is refused.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from accord.errors import ConfigurationError

DEVELOPMENT_SECRET = "development-only-secret-do-not-use-in-production"


class WitnessSetting(BaseModel):
    """A witness the hub publishes checkpoints to: its name, its base URL and its verifier key."""

    model_config = {"extra": "forbid"}

    name: str = Field(pattern=r"^[A-Za-z0-9.-]+(/[A-Za-z0-9._-]+)*$")
    url: str = Field(pattern=r"^https?://[^\s]+$")
    key: str = Field(pattern=r"^[A-Za-z0-9.-]+(/[A-Za-z0-9._-]+)*\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+$")


class Settings(BaseSettings):
    """Accord's configuration. See docs/configuration.md for each setting."""

    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = Field(
        "development", description="development, test or production; production refuses default secrets."
    )
    data_dir: Path = Field(Path("var"), description="Directory for the embedded SQLite database and data files.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; defaults to SQLite in WAL mode at DATA_DIR/accord.db."
    )
    secret_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_SECRET), description="Server secret (at least 32 characters) for keyed hashes."
    )
    token_ttl_seconds: int = Field(900, ge=30, le=86400, description="Lifetime of an API bearer token.")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted on any route that is not an upload route, in bytes."
    )
    max_upload_bytes: int = Field(
        1_073_741_824,
        ge=1024,
        description="Largest upload (dataset records, a customer list) accepted from an authenticated caller, in bytes.",
    )
    max_batch_bytes: int = Field(
        16_777_216, ge=1024, description="Largest verification batch (JSON or file) accepted, in bytes."
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or networks (CIDR) of the proxies whose X-Forwarded-For and "
        "Forwarded headers are believed; from anyone else the socket's peer address is the client's address.",
    )
    throttle_failure_window_seconds: int = Field(
        900, ge=1, le=86400, description="Window in which failed sign-ins are counted, and how long a lockout lasts."
    )
    throttle_token_failures_per_client: int = Field(
        10, ge=1, le=100_000, description="Failed POST /oauth/token attempts for one client id before it is locked out."
    )
    throttle_token_failures_per_address: int = Field(
        50, ge=1, le=100_000, description="Failed POST /oauth/token attempts from one address before it is locked out."
    )
    throttle_signin_failures_per_account: int = Field(
        10, ge=1, le=100_000, description="Failed officer sign-ins for one account before it is locked out."
    )
    throttle_signin_failures_per_address: int = Field(
        50, ge=1, le=100_000, description="Failed officer sign-ins from one address before it is locked out."
    )
    throttle_comments_per_address: int = Field(
        20, ge=1, le=100_000, description="Consultation comments (API and form) one address may post per window."
    )
    throttle_comments_window_seconds: int = Field(
        3600, ge=1, le=86400, description="Window of the consultation comment limit."
    )
    framework_file: Path | None = Field(
        None, description="Legal framework file; defaults to the bundled UK DEA 2017 Part 5 framework."
    )
    host: str = Field("127.0.0.1", description="Address `accord serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `accord serve` listens on.")
    consultation_weeks: int = Field(8, ge=1, le=52, description="Default public consultation period in weeks.")
    audit_origin: str = Field(
        "accord.local/audit",
        pattern=r"^[A-Za-z0-9.-]+(/[A-Za-z0-9._-]+)*$",
        description="Origin line of signed audit checkpoints (and the signing key's name).",
    )
    audit_key_file: Path | None = Field(
        None,
        description="Ed25519 signing key (PEM) for audit checkpoints; defaults to DATA_DIR/keys/audit-ed25519.pem, "
        "created on first use outside production.",
    )
    audit_integrate_seconds: float = Field(
        0.5, gt=0, le=60, description="How often the server integrates new audit entries into the Merkle tree."
    )
    audit_checkpoint_seconds: float = Field(
        60, gt=0, le=86400, description="How often the server signs a new checkpoint when the log has grown."
    )
    audit_subject_retention_days: int | None = Field(
        None, ge=1, le=36500,
        description="Days after which retention may remove an audit entry's subject rows (never before its "
        "embargo ends); unset: kept for ever, and any removal fails `accord audit verify`.",
    )
    witnesses: list[WitnessSetting] = Field(
        default_factory=list,
        description="Witnesses the hub publishes every checkpoint to, as JSON: "
        '[{"name": ..., "url": ..., "key": ...}].',
    )
    witness_timeout_seconds: float = Field(
        2.0, gt=0, le=60, description="How long the hub waits for a witness to answer before trying again later."
    )

    identity_provider: Literal["development", "oidc"] = Field(
        "development",
        description="How citizens sign in: the built-in development identity provider (synthetic people; "
        "refused in production) or an OpenID Connect provider.",
    )
    oidc_issuer: str | None = Field(
        None, description="OpenID Connect issuer URL; its /.well-known/openid-configuration is read at sign-in."
    )
    oidc_client_id: str | None = Field(None, description="Client id registered with the OpenID Connect provider.")
    oidc_client_secret: SecretStr | None = Field(None, description="Client secret for the OpenID Connect provider.")
    oidc_scopes: str = Field("openid", description="Scopes asked of the OpenID Connect provider.")
    oidc_identifier_claim: str = Field(
        "nino",
        description="The claim in the provider's userinfo that holds the citizen's identifier.",
    )
    oidc_identifier_scheme: str = Field(
        "nino", description="What that identifier is; person keys are derived from '<scheme>:<identifier>'."
    )
    citizen_session_minutes: int = Field(30, ge=5, le=720, description="How long a citizen stays signed in.")
    officer_identity_provider: Literal["development", "oidc"] = Field(
        "development",
        description="How officers sign in to the pages: the development identity provider (choose a registered "
        "officer; refused in production) or the bodies' OpenID Connect provider.",
    )
    officer_oidc_issuer: str | None = Field(None, description="The officers' OpenID Connect issuer URL.")
    officer_oidc_client_id: str | None = Field(None, description="Client id registered with the officers' provider.")
    officer_oidc_client_secret: SecretStr | None = Field(None, description="Client secret for the officers' provider.")
    officer_oidc_scopes: str = Field("openid profile", description="Scopes asked of the officers' provider.")
    officer_session_minutes: int = Field(60, ge=5, le=720, description="How long an officer stays signed in.")
    officer_token_ttl_seconds: int = Field(
        900, ge=30, le=86400, description="Lifetime of an API token issued to an officer from their page."
    )
    events_max_attempts: int = Field(12, ge=1, le=100, description="Webhook attempts before an event is dead-lettered.")
    events_retry_base_seconds: float = Field(
        10, gt=0, le=3600, description="First webhook retry delay; doubled per attempt, with jitter."
    )
    events_retry_max_seconds: float = Field(3600, gt=0, le=86400, description="Longest delay between webhook attempts.")
    events_lease_seconds: float = Field(
        60, ge=1, le=3600, description="A claimed delivery not acknowledged by then is retried (crash recovery)."
    )
    events_delivery_timeout_seconds: float = Field(10, gt=0, le=300, description="Timeout of one webhook call.")
    events_delivery_concurrency: int = Field(8, ge=1, le=512, description="Webhook calls in flight per dispatcher.")
    events_deliver_in_server: bool = Field(True, description="Run the webhook dispatcher inside `accord serve`.")
    share_code_days: int = Field(
        21, ge=1, le=365, description="How long a new share code lasts unless its citizen chooses less."
    )
    share_code_max_days: int = Field(90, ge=1, le=365, description="The longest a citizen may make a share code last.")
    share_code_failures_per_code: int = Field(
        5, ge=1, le=1000, description="Wrong guesses on one share code in 24 hours before it is locked (429)."
    )
    share_code_failures_per_body: int = Field(
        20, ge=1, le=100_000, description="Wrong guesses one body may make in an hour before it is refused (429)."
    )
    share_code_failures_per_address: int = Field(
        5, ge=1, le=100_000, description="Wrong guesses on the anonymous check page per address and hour (429)."
    )
    job_workers: int = Field(1, ge=0, le=16, description="Background job workers run inside the server process.")
    job_lease_seconds: float = Field(
        60, ge=1, le=3600, description="How long a worker's claim on a job lasts without a heartbeat."
    )
    job_poll_seconds: float = Field(1.0, gt=0, le=60, description="How often an idle job worker looks for work.")
    job_max_attempts: int = Field(3, ge=1, le=100, description="Claims of one job before it is failed for good.")
    job_chunk_rows: int = Field(
        100_000, ge=1, le=10_000_000, description="Input rows per job chunk (progress and checkpoint step)."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for item in _listed(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"'{item}' is not an IP address or network") from None
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item, strict=False) for item in _listed(self.trusted_proxies))

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> "Settings":
        secret = self.secret_key.get_secret_value()
        if len(secret) < 32:
            raise ValueError("ACCORD_SECRET_KEY must be at least 32 characters")
        if self.environment == "production" and secret == DEVELOPMENT_SECRET:
            raise ValueError("ACCORD_SECRET_KEY must be set to a real secret in production")
        if self.environment == "production" and self.identity_provider == "development":
            raise ValueError("ACCORD_IDENTITY_PROVIDER=development signs anyone in as anyone; use oidc in production")
        if self.identity_provider == "oidc" and not (self.oidc_issuer and self.oidc_client_id):
            raise ValueError("ACCORD_IDENTITY_PROVIDER=oidc needs ACCORD_OIDC_ISSUER and ACCORD_OIDC_CLIENT_ID")
        if self.environment == "production" and self.officer_identity_provider == "development":
            raise ValueError("ACCORD_OFFICER_IDENTITY_PROVIDER=development signs anyone in as any officer; "
                             "use oidc in production")
        if self.officer_identity_provider == "oidc" and not (self.officer_oidc_issuer and self.officer_oidc_client_id):
            raise ValueError("ACCORD_OFFICER_IDENTITY_PROVIDER=oidc needs ACCORD_OFFICER_OIDC_ISSUER and "
                             "ACCORD_OFFICER_OIDC_CLIENT_ID")
        return self

    @property
    def resolved_audit_key_file(self) -> Path:
        return self.audit_key_file or self.data_dir / "keys" / "audit-ed25519.pem"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'accord.db').as_posix()}"


def _listed(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment plus overrides, with one clear error."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "settings"
            name = f"ACCORD_{where.upper()}" if error["loc"] else "settings"
            problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigurationError("invalid configuration", problems) from None
