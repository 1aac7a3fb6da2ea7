"""The web configuration format's vocabulary: its keys and the values it names.

Taken from exporter-toolkit's web/tls_config.go and web/handler.go, with what each
name is in OpenSSL where Python's ``ssl`` needs that instead of Go's.
"""

from __future__ import annotations

__all__ = ["CIPHER_SUITES", "CLIENT_AUTH_ALIASES", "CLIENT_AUTH_TYPES", "CURVES", "HEADERS",
           "KEYS", "TLS_VERSIONS"]

CLIENT_AUTH_TYPES = ("NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                     "VerifyClientCertIfGiven", "RequireAndVerifyClientCert")
# The toolkit still accepts RequireAnyClientCert's old name.
CLIENT_AUTH_ALIASES = {"RequireClientCert": "RequireAnyClientCert"}
TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
# Go's names of the suites its tls.CipherSuites() lists (the only ones the toolkit takes),
# with OpenSSL's name of each. TLS 1.3 suites are not configurable in Go, nor through
# Python's ssl: listed, they are accepted and change nothing, as in the toolkit.
CIPHER_SUITES: dict[str, str | None] = {
    "TLS_AES_128_GCM_SHA256": None,
    "TLS_AES_256_GCM_SHA384": None,
    "TLS_CHACHA20_POLY1305_SHA256": None,
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}
# The toolkit's curve names, with OpenSSL's.
CURVES = {"CurveP256": "prime256v1", "CurveP384": "secp384r1", "CurveP521": "secp521r1",
          "X25519": "X25519"}
# Response headers a file may set, with the values the toolkit allows (None: any).
HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}
KEYS = {
    "": ("tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"),
    "tls_server_config": ("cert", "key", "client_ca", "cert_file", "key_file",
                          "client_auth_type", "client_ca_file", "client_allowed_sans",
                          "min_version", "max_version", "cipher_suites",
                          "prefer_server_cipher_suites", "curve_preferences"),
    "http_server_config": ("http2", "headers"),
    "rate_limit": ("interval", "burst"),
}
