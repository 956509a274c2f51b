"""The API's security settings in one value, so `create_app` takes them as one argument."""

from __future__ import annotations

from dataclasses import dataclass

from spacex_etl.settings import Settings
from spacex_etl.tokens import TokenKeys


@dataclass(frozen=True, slots=True)
class ApiSecurity:
    """Defaults are what tests and embedding get: no keys (admin endpoints 503), reads public,
    CORS off. `from_settings` gives the production values."""

    token_keys: TokenKeys | None = None
    reads_need_token: bool = False
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ApiSecurity:
        return cls(
            token_keys=TokenKeys.from_settings(settings),
            reads_need_token=settings.api_require_token_for_reads,
            cors_origins=tuple(
                origin.strip()
                for origin in settings.cors_allow_origins.split(",")
                if origin.strip()
            ),
        )
