"""Who is calling: API tokens, OIDC bearer tokens from an identity provider, and the
principal every service operation is authorised against."""
