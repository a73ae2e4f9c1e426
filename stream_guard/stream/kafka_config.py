"""Client settings for Kafka, built once from :class:`~stream_guard.settings.Settings`.

Every Kafka client stream-guard opens (the Faust app, the admin client that creates topics,
the broker probe, the load generator's producer) takes its security options from here, so
SASL and TLS are configured in one place.

>>> from stream_guard.settings import Settings
>>> aiokafka_security(Settings())
{'security_protocol': 'PLAINTEXT'}
>>> kw = aiokafka_security(Settings(security_protocol="SASL_PLAINTEXT", sasl_username="u",
...                                 sasl_password="p", sasl_mechanism="SCRAM-SHA-256"))
>>> kw["security_protocol"], kw["sasl_mechanism"], kw["sasl_plain_username"]
('SASL_PLAINTEXT', 'SCRAM-SHA-256', 'u')
>>> faust_security(Settings())
{}
"""

from __future__ import annotations

import ssl
from typing import Any

from stream_guard.settings import Settings, SettingsError

__all__ = ["aiokafka_security", "faust_security", "ssl_context"]


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the ``SSL`` and ``SASL_SSL`` protocols (``None`` otherwise)."""
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.ssl_cafile or None)
    ctx.check_hostname = settings.ssl_check_hostname
    if settings.ssl_certfile:
        try:
            ctx.load_cert_chain(
                settings.ssl_certfile, settings.ssl_keyfile or None, settings.ssl_key_password or None
            )
        except (OSError, ssl.SSLError) as exc:
            # the message names the files, never the key password
            raise SettingsError(f"ssl_certfile/ssl_keyfile: cannot load the client certificate: {exc}") from None
    return ctx


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka clients (producer, consumer, admin)."""
    out: dict[str, Any] = {"security_protocol": settings.security_protocol}
    ctx = ssl_context(settings)
    if ctx is not None:
        out["ssl_context"] = ctx
    if settings.security_protocol.startswith("SASL_"):
        out["sasl_mechanism"] = settings.sasl_mechanism
        out["sasl_plain_username"] = settings.sasl_username
        out["sasl_plain_password"] = settings.sasl_password
    return out


def faust_security(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``faust.App`` (``broker_credentials``), empty for PLAINTEXT."""
    import faust  # only the worker needs Faust

    ctx = ssl_context(settings)
    if settings.security_protocol.startswith("SASL_"):
        creds: Any = faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password,
            mechanism=settings.sasl_mechanism,
            ssl_context=ctx,
        )
        return {"broker_credentials": creds}
    if ctx is not None:
        return {"broker_credentials": faust.SSLCredentials(ctx)}
    return {}
