"""Settings from the environment and ``.env``, with the embedded default filled in."""

from __future__ import annotations

import base64
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# OWASP Password Storage Cheat Sheet: argon2id with at least m=19 MiB, t=2, p=1.
OWASP_MIN_MEMORY_KIB = 19456
OWASP_MIN_TIME_COST = 2


class Settings(BaseSettings):
    """Everything the process needs to know at start; read once, passed explicitly."""

    model_config = SettingsConfigDict(
        env_prefix="HELPDESK_", env_file=".env", extra="ignore", populate_by_name=True
    )

    home: Path = Field(default=Path("var"), description="Folder for the SQLite file and outbox.")
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "HELPDESK_DATABASE_URL")
    )
    profile: str = Field(default="demo", description="Institution profile name or TOML path.")
    secret_key: SecretStr | None = Field(
        default=None, description="Key for the keyed hashes of ID numbers and birthdays."
    )
    card_key: SecretStr | None = Field(
        default=None,
        description="Fernet key for the alumni cards' code secrets; derived when unset.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Base of links in mail; when unset, follows web_host and web_port.",
    )
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For is believed.",
    )

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "Campus Helpdesk <helpdesk@localhost>"

    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one object a line with the turn and actor."
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics requires; without one /metrics is not served.",
    )

    directory_bind_password: SecretStr | None = Field(
        default=None, description="Password of the profile's directory bind DN (LDAP, AD)."
    )
    directory_sync_minutes: float = Field(
        default=15,
        gt=0,
        le=1440,
        description="How often the background jobs sync an LDAP or AD directory's index.",
    )

    telegram_token: SecretStr | None = None
    telegram_secret: SecretStr | None = Field(
        default=None, description="X-Telegram-Bot-Api-Secret-Token the webhook requires."
    )
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = Field(default=None, description="For Socket Mode.")
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Web API base (a stand-in in tests)."
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org/bot", description="Bot API base (a stand-in in tests)."
    )
    line_channel_secret: SecretStr | None = Field(
        default=None, description="LINE channel secret: checks X-Line-Signature."
    )
    line_channel_access_token: SecretStr | None = Field(
        default=None, description="LINE channel access token (long-lived)."
    )
    line_api_url: str = Field(
        default="https://api.line.me", description="Messaging API base (a stand-in in tests)."
    )
    line_data_api_url: str = Field(
        default="https://api-data.line.me", description="Messaging API data (upload) base."
    )
    line_menu_font: Path | None = Field(
        default=None, description="A font with Traditional Chinese glyphs for the rich menu."
    )

    # The job queue (core/jobs.py): work a webhook queues before it answers.
    job_worker: Literal["in_process", "separate"] = Field(
        default="in_process",
        description="in_process: every serving process also runs queued jobs; separate: "
        "serving processes only queue them and `helpdesk worker` runs them (PostgreSQL).",
    )
    job_concurrency: int = Field(default=10, ge=1, description="Jobs one process runs at once.")
    job_stalled_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A job worker silent this long is taken as dead; its jobs run again.",
    )

    @field_validator("argon2_memory_kib")
    @classmethod
    def _memory_at_least_owasp(cls, value: int) -> int:
        if value < OWASP_MIN_MEMORY_KIB:
            raise ValueError(f"must be at least {OWASP_MIN_MEMORY_KIB} KiB (OWASP minimum)")
        return value

    @field_validator("argon2_time_cost")
    @classmethod
    def _time_at_least_owasp(cls, value: int) -> int:
        if value < OWASP_MIN_TIME_COST:
            raise ValueError(f"must be at least {OWASP_MIN_TIME_COST} (OWASP minimum)")
        return value

    @model_validator(mode="after")
    def _normalise_database_url(self) -> Settings:
        if self.database_url:
            self.database_url = normalise_database_url(self.database_url)
        return self

    @model_validator(mode="after")
    def _public_url_follows_the_port(self) -> Settings:
        if "public_url" not in self.model_fields_set:
            self.public_url = local_url(self.web_host, self.web_port)
            # Still "not given": serving_on() derives it again for another port.
            self.model_fields_set.discard("public_url")
        return self

    def serving_on(self, host: str | None = None, port: int | None = None) -> Settings:
        """These settings for a web app bound to ``host``/``port`` (command-line options).

        Links in mail follow the port actually served unless ``HELPDESK_PUBLIC_URL``
        says otherwise.
        """
        host = host or self.web_host
        port = port or self.web_port
        update: dict[str, object] = {"web_host": host, "web_port": port}
        if "public_url" not in self.model_fields_set:
            update["public_url"] = local_url(host, port)
        return self.model_copy(update=update)

    @property
    def sqlalchemy_url(self) -> str:
        """The async SQLAlchemy URL: ``DATABASE_URL`` or the SQLite file under home."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.home / 'helpdesk.db').resolve()}"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @cached_property
    def pii_key(self) -> bytes:
        """The HMAC key for ID numbers and birthdays.

        Production sets ``HELPDESK_SECRET_KEY``; the embedded default makes one once
        and keeps it in ``home/secret.key`` so hashes stay comparable across runs.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.home / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    @cached_property
    def card_fernet_key(self) -> bytes:
        """The Fernet key that encrypts the alumni cards' code secrets (seed 003).

        ``HELPDESK_CARD_KEY`` when set; otherwise derived from ``pii_key`` with
        HKDF-SHA256, so the embedded default works with nothing configured.
        """
        if self.card_key is not None:
            return self.card_key.get_secret_value().encode()
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"alumni-card-secrets"
        ).derive(self.pii_key)
        return base64.urlsafe_b64encode(derived)


def local_url(host: str, port: int) -> str:
    """``http://host:port`` for the embedded default; a wildcard address means this host."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def normalise_database_url(url: str) -> str:
    """Accept the usual URL spellings and pick the async driver."""
    for plain, async_ in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgresql+psycopg://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return async_ + url[len(plain) :]
    return url
