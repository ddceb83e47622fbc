"""Signing applicants in with their digital ID: the identity-provider interface, an OpenID Connect
client (Authlib) and a sandbox provider that speaks OpenID Connect itself."""
