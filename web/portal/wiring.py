"""The portal's services: the identity provider, the sandbox provider, the evidence-file store."""

import hashlib

import httpx
from flask import current_app, url_for

from cases.portal.models import IDP_TABLES
from engine.db import db
from integrations.idp.keys import load_or_create_signing_key
from integrations.idp.oidc import OidcIdentityProvider
from integrations.idp.sandbox import RegisteredClient, SandboxIdentityServer
from integrations.photos import FilePhotoStore

from .. import services

CALLBACK_PATH = "/portal/callback"


class PortalServices:
    """What the portal's pages use, built once per app from its settings."""

    def __init__(self, identity, sandbox_idp, evidence):
        self.identity = identity
        self.sandbox_idp = sandbox_idp
        self.evidence = evidence


def portal_services():
    """Return this app's portal services, built on first use."""
    state = current_app.extensions.get("tepat_portal")
    if state is None:
        state = current_app.extensions["tepat_portal"] = build_portal_services(current_app._get_current_object())
    return state


def _secret(config, purpose):
    return hashlib.sha256(f"{purpose}:{config['SECRET_KEY']}".encode()).digest()


def build_portal_services(app):
    """Wire the identity provider chosen by BANSOS_IDP_BACKEND, and the evidence store."""
    config = app.config
    backend = config["BANSOS_IDP_BACKEND"]
    evidence = FilePhotoStore(config["BANSOS_EVIDENCE_DIR"], max_bytes=int(config["BANSOS_EVIDENCE_MAX_BYTES"]))
    client = (config["BANSOS_IDP_CLIENT_ID"], config["BANSOS_IDP_CLIENT_SECRET"])
    if backend == "oidc":
        identity = OidcIdentityProvider(
            config["BANSOS_IDP_ISSUER"],
            *client,
            nik_claim=config["BANSOS_IDP_NIK_CLAIM"],
            scope=config["BANSOS_IDP_SCOPE"],
        )
        return PortalServices(identity, None, evidence)
    if backend != "sandbox":
        raise ValueError(f"BANSOS_IDP_BACKEND={backend!r} is not available; use 'sandbox' or 'oidc'.")
    integrations = services().integrations
    issuer = config["BANSOS_IDP_SANDBOX_ISSUER"]
    server = SandboxIdentityServer(
        lambda: db.session,
        IDP_TABLES,
        integrations.civil_registry,
        integrations.notifier,
        load_or_create_signing_key(config["BANSOS_IDP_SANDBOX_KEY_FILE"]),
        issuer,
        {client[0]: RegisteredClient(secret=client[1], redirect_paths=(CALLBACK_PATH,))},
        secret=_secret(config, "sandbox-idp"),
    )
    # The portal is the sandbox provider's client like any other: the token and key requests go
    # through HTTP to this same app (in-process), the browser to its local authorize page.
    identity = OidcIdentityProvider(
        issuer,
        *client,
        scope="openid",
        metadata=server.discovery(),
        browser_authorization_endpoint=_authorize_path(app),
        transport=httpx.WSGITransport(app=app),
    )
    return PortalServices(identity, server, evidence)


def _authorize_path(app):
    with app.test_request_context():
        return url_for("idp.authorize")
