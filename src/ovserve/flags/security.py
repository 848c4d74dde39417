"""The security flags: OVMS's API key and CORS flags, ovserve's TLS flags (docs/security.md)."""

from __future__ import annotations

from ovserve.flags.flag import CORS, Flag, shown

SECURITY_FLAGS: tuple[Flag, ...] = (
    Flag(
        "api_key_file",
        "str",
        "env API_KEY",
        "File whose first line is the API key clients send as 'Authorization: Bearer <key>' "
        "(every endpoint but health); not given: env API_KEY; neither: no key asked for",
    ),
    Flag(
        "allowed_origins",
        "str",
        shown(CORS.allowed_origins),
        "CORS: comma-separated origins allowed to call the REST API",
    ),
    Flag(
        "allowed_methods",
        "str",
        shown(CORS.allowed_methods),
        "CORS: comma-separated methods allowed in cross-origin calls",
    ),
    Flag(
        "allowed_headers",
        "str",
        shown(CORS.allowed_headers),
        "CORS: comma-separated headers allowed in cross-origin calls",
    ),
    Flag(
        "allow_credentials",
        "bool",
        shown(CORS.allow_credentials),
        "CORS: allow credentials in cross-origin calls",
    ),
    Flag(
        "tls_cert_path",
        "str",
        "",
        "ovserve extension: PEM certificate chain; with tls_key_path, both ports serve TLS only "
        "(reloaded when the file changes)",
    ),
    Flag("tls_key_path", "str", "", "ovserve extension: PEM private key of tls_cert_path"),
    Flag(
        "tls_client_ca_path",
        "str",
        "",
        "ovserve extension: PEM CA certificates; clients must present a certificate they signed (mTLS)",
    ),
)
