#!/usr/bin/env python3
"""A Python agent using tokenwarden's HTTP API (standard library only).

The daemon (`tokenwarden serve`) keeps the tokens alive; this program asks it for a token
when it needs one, treats 409 (a human must re-authorize) as an answer rather than a crash,
and sends mail through the daemon's mailbox (Gmail API first, App Password SMTP if OAuth is down).

    TOKENWARDEN_URL=http://127.0.0.1:7465 TOKENWARDEN_API_KEY=$(cat .tokenwarden/api-key) \\
    AGENT_CONNECTION=gmail AGENT_MAILBOX=agent AGENT_REPORT_TO=me@example.com python3 examples/python-agent.py

Optional: AGENT_API_URL (called with the token; default Google's userinfo),
AGENT_ASK=1 (on 409, ask the daemon to (re)send the human the link).
"""
import json
import os
import sys
import urllib.error
import urllib.request

BASE = os.environ.get("TOKENWARDEN_URL", "http://127.0.0.1:7465").rstrip("/")
API_KEY = os.environ["TOKENWARDEN_API_KEY"]
CONNECTION = os.environ.get("AGENT_CONNECTION", "gmail")
MAILBOX = os.environ.get("AGENT_MAILBOX", "agent")
REPORT_TO = os.environ.get("AGENT_REPORT_TO", "")
API_URL = os.environ.get("AGENT_API_URL", "https://openidconnect.googleapis.com/v1/userinfo")


def call(method, path, body=None):
    """Call the tokenwarden API; returns (status, json). Errors are JSON too: {"error": {"code", "message", ...}}."""
    req = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + API_KEY, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.load(res)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def access_token():
    """A valid access token, or None when a human must re-authorize (HTTP 409)."""
    status, body = call("POST", f"/api/v1/connections/{CONNECTION}/token")
    if status == 200:
        print(f"token: ok ({CONNECTION} is {body['state']}, expires in {body['expires_in']} s)")
        return body["access_token"]  # use it; never print or log it
    err = body.get("error", {})
    if status == 409:  # TW_REAUTH_REQUIRED: an answer, not a crash
        cause = err.get("cause") or {}
        asked = (err.get("reauth") or {}).get("askedVia") or []
        print(f"409 {err.get('code')}: {CONNECTION} needs its human: {cause.get('summary', '')}")
        print(f"  fix: {cause.get('fix', '')}")
        print(f"  asked via: {', '.join(asked) or 'nobody yet'}; still works: {'; '.join(err.get('fallbacks') or []) or 'nothing'}")
        if os.environ.get("AGENT_ASK") == "1":
            s, r = call("POST", f"/api/v1/connections/{CONNECTION}/reauth", {"reason": "agent needs it"})
            flow = r.get("flow") or {}
            print(f"  asked the daemon to reach the human: HTTP {s}, asked via {', '.join(flow.get('asked_via') or []) or 'nobody'}")
        return None
    if status == 503:  # the provider is down: retry later
        print(f"503 provider unavailable: {err.get('message')}; retry later")
        return None
    sys.exit(f"unexpected HTTP {status}: {err.get('message')}")


def main():
    token = access_token()
    if token:
        req = urllib.request.Request(API_URL, headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                print(f"api: GET {API_URL} answered {res.status}")
        except urllib.error.HTTPError as e:
            print(f"api: GET {API_URL} answered {e.code}")
    if REPORT_TO:
        status, body = call("POST", f"/api/v1/mailboxes/{MAILBOX}/send", {
            "to": REPORT_TO,
            "subject": "python agent report",
            "text": "token ok" if token else "waiting for re-authorization",
        })
        if status in (200, 202):  # 202: queued in the durable outbox, retried by the daemon
            print(f"mail: {body['status']} via {body['route']} (Message-ID {body['message_id']})")
        else:
            print(f"mail: HTTP {status}: {body.get('error', {}).get('message')}")


if __name__ == "__main__":
    main()
