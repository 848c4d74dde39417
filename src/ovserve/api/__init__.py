"""Front ends: stateless translators from the wire onto the one request path."""
