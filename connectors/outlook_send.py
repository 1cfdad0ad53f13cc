"""Sending the digest through an Outlook source: Graph /me/sendMail in MIME mode."""

from __future__ import annotations

import base64
import email.message

from connectors.base import SourceConfig, SourceContext
from connectors.outlook_auth import auth_for
from connectors.outlook_graph import GRAPH_ENDPOINT, GraphClient, GraphError
from syncd.errors import DeliveryError, NeedsReauthError


def send_message(
    source: SourceConfig, ctx: SourceContext, message: email.message.EmailMessage
) -> None:
    """Send ``message`` as is (MIME, so Auto-Submitted survives) through /me/sendMail.

    Graph's MIME mode takes the base64 of the RFC 5322 message as a text/plain body
    (user-sendmail.md); JSON mode would only allow custom headers starting with x-.
    """
    auth = auth_for(source, ctx)
    if "Mail.Send" not in auth.scopes:
        raise DeliveryError(
            f"[sources.{source.name}] send_digest = true is needed to send through this "
            f"account (then run `syncd auth {source.name}`)"
        )
    client = GraphClient(
        source.get("graph_endpoint") or GRAPH_ENDPOINT, auth.token, sleep=ctx.sleep
    )
    body = base64.b64encode(message.as_bytes())
    try:
        client.request(
            "POST",
            "me/sendMail",
            headers={"Content-Type": "text/plain"},
            data=body,
            expect_json=False,
        )
    except NeedsReauthError as e:
        # Also what a sign-in made before send_digest was turned on gets (AADSTS65001): say
        # which source and what fixes it, as the Gmail path does.
        raise NeedsReauthError(
            f"{source.name}: cannot send the digest: {e}; with send_digest = true in "
            f"[sources.{source.name}], run `syncd auth {source.name}`"
        ) from e
    except GraphError as e:
        if e.status == 403:  # Mail.Send consent withdrawn since the sign-in (or by an admin)
            raise DeliveryError(
                f"{source.name}: Microsoft Graph refused to send the digest (403 {e.code}); "
                f"with send_digest = true in [sources.{source.name}], run "
                f"`syncd auth {source.name}`"
            ) from e
        raise DeliveryError(f"sending the digest through {source.name} failed: {e}") from e
    except Exception as e:
        raise DeliveryError(f"sending the digest through {source.name} failed: {e}") from e
