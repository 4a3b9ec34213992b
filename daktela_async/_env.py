"""The settings :meth:`DaktelaClient.from_env` reads from environment variables."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import attrs

from ._config import ENV_API_VERSION, ENV_LOGIN, ENV_PASSWORD, ENV_TOKEN, ENV_URL
from ._errors import DaktelaUsageError
from ._transport._token import Secret

__all__ = ["EnvSettings"]


def _from_env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value else None


def _secret_from_env(environ: Mapping[str, str], name: str) -> Secret | None:
    # Held masked at once: no local of the reading frames is the plain value.
    return Secret(environ[name]) if environ.get(name) else None


@attrs.frozen(slots=True)
class EnvSettings:
    """What :meth:`DaktelaClient.from_env` found: the token held in a :class:`Secret`."""

    url: str
    token: Secret = attrs.field(repr=False)
    token_variable: str
    api_version: str | None

    @classmethod
    def read(cls, environ: Mapping[str, str]) -> EnvSettings:
        """Read and check the variables; secrets are never put into a message.

        Raises:
            DaktelaUsageError: A variable is missing, or both kinds of credentials are set.
        """
        url = _from_env(environ, ENV_URL)
        api_version = _from_env(environ, ENV_API_VERSION)
        login = _from_env(environ, ENV_LOGIN)
        token = _secret_from_env(environ, ENV_TOKEN)
        password = _secret_from_env(environ, ENV_PASSWORD)
        # A traceback with locals must not show the environment (the password is in it).
        del environ
        if url is None:
            raise DaktelaUsageError(
                f"{ENV_URL} is not set: it must hold the PBX address (https://pbx.example.com)",
                parameter=ENV_URL,
            )
        if token is not None:
            if login is not None or password is not None:
                raise DaktelaUsageError(
                    f"set either {ENV_TOKEN} or {ENV_LOGIN} and {ENV_PASSWORD}, not both",
                    parameter=ENV_TOKEN,
                )
            return cls(url, token, ENV_TOKEN, api_version)
        if login is None or password is None:
            missing = ENV_LOGIN if password is not None else ENV_PASSWORD if login else ENV_TOKEN
            raise DaktelaUsageError(
                f"{missing} is not set: the access token is {ENV_TOKEN}, or else "
                f"{ENV_LOGIN} and {ENV_PASSWORD} (the token is SHA1 of both)",
                parameter=missing,
            )
        # SHA1(login + password), as from_credentials() derives it.
        digest = hashlib.sha1((login + password.value).encode(), usedforsecurity=False)
        return cls(url, Secret(digest.hexdigest()), f"{ENV_LOGIN}/{ENV_PASSWORD}", api_version)
