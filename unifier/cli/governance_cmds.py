"""token, approvals, approve, reject, audit: governance from the command line, each
through the :class:`~unifier.cli.client.Client` (local admin, or a remote server)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer

from unifier.auth.roles import ZONE_SCOPE_PREFIX
from unifier.cli.client import client
from unifier.cli.output import EXIT_FAILED, Format, OutputOption, err, out, print_json, table, when
from unifier.duration import parse_duration
from unifier.service import Decision

token_app = typer.Typer(help="API tokens: create (the secret is shown once), list, revoke.",
                        no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: every action, refused attempts too; `verify` checks the chain.",
                        invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.command()(whoami)
    app.add_typer(token_app, name="token")
    app.command()(approvals)
    app.command()(approve)
    app.command()(reject)
    app.add_typer(audit_app, name="audit")


def whoami(output: OutputOption = Format.table) -> None:
    """Who the server (or the local catalog) takes you for: name, subjects, role and scope of each grant."""
    me = client().whoami()
    if output == Format.json:
        print_json(me)
        return
    out.print(f"{me['name']} ({', '.join(me['subjects'])})", markup=False)
    table(["ROLE", "SCOPE", "FROM"], [(g["role"], ", ".join(g["scopes"]), g["source"]) for g in me["grants"]])


# ---------------------------------------------------------------------- tokens


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="the token's name: its holder is token:NAME in policies")],
    role: Annotated[str, typer.Option(help="viewer, operator, approver, admin, or agent (with --zone)")],
    scope: Annotated[list[str] | None, typer.Option(help="job URI pattern (repeatable); default every job")] = None,
    expires: Annotated[str | None, typer.Option(help="lifetime, e.g. 90d; default never")] = None,
    zone: Annotated[str | None, typer.Option(help="with --role agent: the one zone it serves")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Create an API token and print its secret, once: only a hash is kept."""
    if zone is not None:
        scope = [*(scope or []), f"{ZONE_SCOPE_PREFIX}{zone}"]
    try:
        lifetime: timedelta | None = parse_duration(expires) if expires else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expires") from None
    info, secret = client().create_token(name, role, scope, lifetime)
    expires_at = info.expires_at.isoformat() if info.expires_at else None
    if output == Format.json:
        print_json({"name": info.name, "role": info.role.value, "scopes": list(info.scopes), "token": secret,
                    "expires_at": expires_at})
        return
    out.print(f"token/{info.name} created: role {info.role.value}, scope {', '.join(info.scopes)}, "
              f"expires {expires_at or 'never'}")
    out.print(secret, markup=False)
    err.print("this secret is shown once: store it now (clients send it as Authorization: Bearer ...)")


@token_app.command("list")
def token_list(output: OutputOption = Format.table) -> None:
    """Every token with its role, scope and state (never the secret)."""
    found = client().tokens()
    if output == Format.json:
        print_json([t.to_json() for t in found])
        return
    table(["NAME", "ROLE", "SCOPE", "STATE", "EXPIRES", "CREATED BY"],
          [(t.name, t.role.value, ", ".join(t.scopes), t.to_json()["state"],
            t.expires_at.isoformat() if t.expires_at else "never", t.created_by) for t in found])


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Refuse the token from the next request on."""
    client().revoke_token(name)
    err.print(f"token/{name} revoked")


# ---------------------------------------------------------------------- approvals


def approvals(
    state: Annotated[str | None, typer.Option(help="awaiting_approval, approved, rejected or expired")] = None,
    limit: Annotated[int, typer.Option(help="newest N")] = 100,
    output: OutputOption = Format.table,
) -> None:
    """Approval requests: manual triggers and firings of jobs an ApprovalPolicy guards."""
    found = client().approvals(state, limit)
    if output == Format.json:
        print_json([a.to_json() for a in found])
        return
    table(["ID", "JOB", "PARAMS", "REQUESTED BY", "REQUESTED", "EXPIRES", "STATE"],
          [(a.id, a.job, ", ".join(f"{k}={v}" for k, v in sorted(a.params.items())) or "-", a.requested_by,
            when(a.requested_at), when(a.expires_at), a.state) for a in found])


def _print_decision(decision: Decision, output: Format) -> None:
    if output == Format.json:
        print_json(decision.to_json())
        return
    approval = decision.approval
    out.print(f"approval/{approval.id} {approval.state} ({approval.job})")
    for run in decision.runs:
        out.print(f"triggered {run.job} run {run.run_id}")


def approve(
    approval_id: Annotated[str, typer.Argument(help="the request's id (see `unifier approvals`)")],
    reason: Annotated[str | None, typer.Option(help="why, kept in the audit log")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Approve a request; with enough approvers it runs, exactly once."""
    _print_decision(asyncio.run(client().approve(approval_id, reason)), output)


def reject(
    approval_id: Annotated[str, typer.Argument(help="the request's id (see `unifier approvals`)")],
    reason: Annotated[str, typer.Option(help="why (required)")],
    output: OutputOption = Format.table,
) -> None:
    """Reject a request: nothing runs."""
    _print_decision(asyncio.run(client().reject(approval_id, reason)), output)


# ---------------------------------------------------------------------- audit


@audit_app.callback()
def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="at most this many, newest first")] = 50,
    actor: Annotated[str | None, typer.Option(help="only this actor's")] = None,
    action: Annotated[str | None, typer.Option(help="only this action, e.g. trigger")] = None,
    output: OutputOption = Format.table,
) -> None:
    """Every action taken through unifier, refused attempts too, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    entries = client().audit_entries(limit=limit, actor=actor, action=action)
    if output == Format.json:
        print_json(entries)
        return
    table(["ID", "AT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "SOURCE"],
          [(e["id"], e["at"][:19].replace("T", " "), e["actor"], e["action"], e["target"], e["outcome"],
            e["source"]) for e in entries])


@audit_app.command("verify")
def audit_verify(output: OutputOption = Format.table) -> None:
    """Check the hash chain: exit 0 when intact, 1 naming the first altered or deleted entry."""
    result = client().verify_audit()
    if output == Format.json:
        print_json(result.to_json())
    elif result.ok:
        out.print(f"audit log intact: {result.checked} entries verified")
    if not result.ok:
        err.print(f"[red]audit log broken:[/] {result.problem}")
        raise typer.Exit(EXIT_FAILED)
