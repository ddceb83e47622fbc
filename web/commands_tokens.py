"""Commands for API tokens: create (the secret is printed once), list, revoke; each audited."""

import click

from engine.db import db

from .cli import commits, wib


@click.group(help="API tokens of officers (for outside systems calling /api/v1).")
def token():
    pass


@token.command("create")
@click.option("--officer", "username", required=True, help="username of the officer the token acts as")
@click.option("--name", required=True, help="what the token is for")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 365), help="days until it expires")
@commits
def token_create(username, name, days):
    """Create a token; its secret is printed once and not stored."""
    from cases.audit import record
    from cases.operations import officer_or_404
    from cases.tokens import issue_token

    officer = officer_or_404(db.session, username)
    row, secret = issue_token(db.session, officer, name, days, created_by="cli")
    record(
        db.session,
        "cli",
        "token.create",
        target_type="api_token",
        target_id=row.prefix,
        user_agent="cli",
        detail={"officer": officer.username, "name": row.name, "days": days},
    )
    click.echo(f"token {row.id} for {officer.username} ({row.name}), expires {wib(row.expires_at)}")
    click.echo("The secret is shown once; it is not stored. / Rahasia token hanya ditampilkan sekali:")
    click.echo(secret)


@token.command("revoke")
@click.argument("token")
@commits
def token_revoke(token):
    """Revoke a token, given its id or its prefix (tpt_xxxxxxxx)."""
    from cases.audit import record
    from cases.tokens import find_token, revoke_token

    row = revoke_token(db.session, find_token(db.session, token).id, by="cli")
    record(
        db.session,
        "cli",
        "token.revoke",
        target_type="api_token",
        target_id=row.prefix,
        user_agent="cli",
        detail={"officer": row.officer.username, "name": row.name},
    )
    click.echo(f"token {row.id} ({row.prefix}) of {row.officer.username} revoked")


@token.command("list")
@click.option("--officer", "username", default=None, help="only this officer's tokens")
@commits
def token_list(username):
    """List tokens (never their secrets)."""
    from cases.operations import officer_or_404
    from cases.tokens import all_tokens, tokens_of

    rows = tokens_of(db.session, officer_or_404(db.session, username)) if username else all_tokens(db.session)
    if not rows:
        click.echo("Tidak ada token. / No tokens.")
    for t in rows:
        used = wib(t.last_used_at) if t.last_used_at else "-"
        click.echo(
            f"#{t.id:<5} {t.prefix}  {t.officer.username:15} {t.state():8} expires {wib(t.expires_at)}"
            f"  last used {used}  {t.name}"
        )
