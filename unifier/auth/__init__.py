"""Identities and authorisation: who is asking (:class:`Principal`) and what they may do.

- :mod:`.roles`: roles, permissions, and scope patterns (job-URI globs).
- :mod:`.principal`: a principal and its grants; ``LOCAL_ADMIN`` for the local CLI.
- :mod:`.tokens`: API tokens (only a hash kept).
- :mod:`.policies`: ``kind: AccessPolicy`` / ``kind: ApprovalPolicy`` documents.
- :mod:`.authenticate`: a bearer credential to a principal (API tokens, then OIDC bearer
  tokens from an identity provider: :mod:`.oidc`).
"""

from unifier.auth.principal import LOCAL_ADMIN, Grant, Principal
from unifier.auth.roles import Permission, Role

__all__ = ["LOCAL_ADMIN", "Grant", "Permission", "Principal", "Role"]
