"""The ``AccessPolicy`` and ``ApprovalPolicy`` document kinds (models only: storage and
the appliers are in :mod:`unifier.auth.policies`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from unifier.auth.roles import ALL, Role
from unifier.config.documents import Document
from unifier.duration import Duration

SUBJECT_PATTERN = r"^(token|group|user):\S+$"
Subject = str


class AccessPolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subjects: list[Subject] = Field(min_length=1, description="token:NAME, group:NAME or user:SUB (OIDC subject)")
    role: Role = Field(description="viewer, operator, approver or admin")
    scope: list[str] = Field(default_factory=lambda: list(ALL), min_length=1,
                             description="job URI patterns (`*` matches any characters); default every job")

    def model_post_init(self, _context: object) -> None:
        for subject in self.subjects:
            if not re.match(SUBJECT_PATTERN, subject):
                raise ValueError(f"subjects: {subject!r} is not token:NAME, group:NAME or user:SUB")


class ApprovalPolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jobs: list[str] = Field(min_length=1,
                            description="job URI patterns whose manual triggers and trigger firings wait")
    approvers: list[Subject] = Field(min_length=1,
                                     description="subjects who may approve (they also need the approver role)")
    required: int = Field(default=1, ge=1, le=10, description="distinct approvers needed")
    timeout: Duration = Field(default=timedelta(hours=4), description="then the request expires and nothing runs")

    def model_post_init(self, _context: object) -> None:
        for subject in self.approvers:
            if not re.match(SUBJECT_PATTERN, subject):
                raise ValueError(f"approvers: {subject!r} is not token:NAME, group:NAME or user:SUB")


class AccessPolicyDocument(Document):
    kind: Literal["AccessPolicy"]
    spec: AccessPolicySpec


class ApprovalPolicyDocument(Document):
    kind: Literal["ApprovalPolicy"]
    spec: ApprovalPolicySpec

