"""Compatibility suite: the official Python SDK (ascend-ai-sdk 2.7.1), unchanged, against our server.

Driven by tests/python_sdk_compat.rs, which starts a server and passes its URL and keys through the
environment: ASCEND_TEST_URL, ASCEND_TEST_AGENT_KEY, ASCEND_TEST_REVIEWER_KEY, ASCEND_TEST_ADMIN_KEY,
ASCEND_TEST_ORG_ID.
"""

import hashlib
import hmac
import http.server
import json
import os
import threading
import time

import pytest
import requests

from ascend import AscendClient, Decision
from ascend.exceptions import KillSwitchError

URL = os.environ["ASCEND_TEST_URL"]
AGENT_KEY = os.environ["ASCEND_TEST_AGENT_KEY"]
REVIEWER_KEY = os.environ["ASCEND_TEST_REVIEWER_KEY"]
ADMIN_KEY = os.environ["ASCEND_TEST_ADMIN_KEY"]
ORG_ID = int(os.environ["ASCEND_TEST_ORG_ID"])


def client(agent_id="py-agent", key=AGENT_KEY):
    return AscendClient(api_key=key, api_url=URL, agent_id=agent_id, agent_name="Python Agent", timeout=10)


def approve(action_id, comment="approved by the compat suite"):
    r = requests.post(
        f"{URL}/api/v1/actions/{action_id}/approve",
        headers={"X-API-Key": REVIEWER_KEY},
        json={"comment": comment},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_connection_and_registration():
    c = client()
    status = c.test_connection()
    assert status.connected, status
    assert status.api_version
    reg = c.register(agent_type="supervised", capabilities=["db.read"])
    assert reg.get("agent_id") == "py-agent"
    # Registering twice is fine.
    c.register(agent_type="supervised")


def test_low_risk_is_allowed():
    c = client()
    d = c.evaluate_action(
        action_type="database.read",
        resource="product_categories",
        parameters={"query": "list"},
        risk_indicators={"data_classification": "public"},
    )
    assert d.decision == Decision.ALLOWED, d
    assert d.execution_allowed
    assert int(d.action_id) > 0
    assert d.risk_level is not None and d.risk_level.value == "low"
    assert d.cvss_score is not None
    assert "risk_factors" in d.metadata or d.risk_score is not None


def test_medium_risk_pii_read():
    c = client()
    d = c.evaluate_action(
        action_type="database.read",
        resource="customers",
        parameters={"fields": ["name", "email", "phone"]},
        risk_indicators={"data_classification": "pii", "pii_involved": True},
        wait_for_decision=False,
    )
    assert d.decision in (Decision.ALLOWED, Decision.PENDING), d
    assert d.risk_level is not None


def test_high_risk_waits_for_a_human_approval():
    c = client()
    first = c.evaluate_action(
        action_type="database.write",
        resource="customers",
        resource_id="cust_42",
        parameters={"operation": "update", "field": "billing_address", "rows": 1},
        risk_indicators={"pii_involved": True, "data_classification": "pii"},
        wait_for_decision=False,
    )
    assert first.decision == Decision.PENDING, first
    assert first.approval_request_id
    assert not first.execution_allowed
    status = c.get_action_status(first.action_id)
    assert status.decision == Decision.PENDING
    assert c.check_approval(first.approval_request_id)["pending"] is True

    # A reviewer approves through our API while the SDK waits (it polls every 2 s).
    timer = threading.Timer(1.0, approve, args=(first.action_id,))
    timer.start()
    final = c.wait_for_decision(first.action_id, timeout=30)
    timer.join()
    assert final.decision == Decision.ALLOWED, final
    assert final.approved_by
    chk = c.check_approval(first.approval_request_id)
    assert chk["approved"] is True and chk["approver"]
    details = c.get_action_details(first.action_id)
    assert details.status.value == "approved"

    # The same flow through evaluate_action's built-in wait.
    def approve_latest():
        time.sleep(1.0)
        acts = requests.get(
            f"{URL}/api/v1/actions?status=pending", headers={"X-API-Key": REVIEWER_KEY}, timeout=10
        ).json()["actions"]
        for a in acts:
            approve(a["id"])

    t = threading.Thread(target=approve_latest)
    t.start()
    d = c.evaluate_action(
        action_type="database.write",
        resource="customers",
        resource_id="cust_43",
        parameters={"operation": "update", "field": "billing_address", "rows": 1},
        risk_indicators={"pii_involved": True, "data_classification": "pii"},
        timeout=30,
    )
    t.join()
    assert d.decision == Decision.ALLOWED, d


def test_critical_bulk_delete_is_denied():
    c = client()
    d = c.evaluate_action(
        action_type="database.delete",
        resource="users",
        parameters={"operation": "delete", "row_count": 150, "rows": 150},
        risk_indicators={"bulk_operation": True},
    )
    assert d.decision == Decision.DENIED, d
    assert not d.execution_allowed
    assert d.reason


def test_log_completion_and_failure_and_list():
    c = client(agent_id="py-logger")
    ok = c.evaluate_action(action_type="database.read", resource="product_categories",
                           risk_indicators={"data_classification": "public"})
    res = c.log_action_completed(ok.action_id, result={"rows": 3}, duration_ms=12)
    assert "logged_locally" not in res, res
    bad = c.evaluate_action(action_type="database.read", resource="product_categories",
                            risk_indicators={"data_classification": "public"})
    res = c.log_action_failed(bad.action_id, error={"type": "Timeout", "message": "db slow"}, duration_ms=5)
    assert "logged_locally" not in res, res
    listing = c.list_actions(limit=10)
    assert listing["total"] >= 2
    ids = {str(a["action_id"]) for a in listing["actions"]}
    assert ok.action_id in ids and bad.action_id in ids
    assert all(a["metadata"]["action_type"] for a in listing["actions"])
    # status filter
    denied = c.list_actions(limit=10, status="denied")
    assert all(a["status"] == "denied" for a in denied["actions"])


def test_mcp_endpoint():
    c = client()
    d = c.evaluate_mcp_action(mcp_server="filesystem", namespace="fs", verb="list_directory",
                              resource="/home/project", tool_name="list_directory")
    assert d.decision in (Decision.ALLOWED, Decision.PENDING, Decision.DENIED)
    assert d.action_id


def test_validation_errors_are_validation_errors():
    from ascend.exceptions import ValidationError
    with pytest.raises(ValidationError):
        client()._request("POST", "/api/v1/actions/submit", data={"agent_id": "x", "action_type": 5})


def test_kill_switch_polling_blocks_the_agent():
    admin = client(agent_id="py-admin", key=ADMIN_KEY)
    c = client(agent_id="py-halted")
    c.start_kill_switch_polling(interval_seconds=1)
    try:
        assert not c.is_blocked()
        admin.trigger_kill_switch(ORG_ID, "incident 1234: compat suite halts agents")
        # A submit now gets the governance 403, which the SDK turns into DENIED.
        d = c.evaluate_action(action_type="database.read", resource="product_categories")
        assert d.decision == Decision.DENIED
        deadline = time.time() + 20
        while not c.is_blocked() and time.time() < deadline:
            time.sleep(0.2)
        assert c.is_blocked()
        with pytest.raises(KillSwitchError):
            c.evaluate_action(action_type="database.read", resource="product_categories")
        admin.release_kill_switch(ORG_ID, "incident 1234 resolved, resume")
        deadline = time.time() + 20
        while c.is_blocked() and time.time() < deadline:
            time.sleep(0.2)
        assert not c.is_blocked()
        d = c.evaluate_action(action_type="database.read", resource="product_categories",
                              risk_indicators={"data_classification": "public"})
        assert d.decision == Decision.ALLOWED
    finally:
        c.stop_kill_switch_polling()


class _Receiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        _Receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"status":"processed"}')

    def log_message(self, *args):
        pass


def test_webhook_configure_and_test_with_signature():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Receiver)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        c = client()
        secret = "whsec_compat_suite"
        # The SDK insists on https when configuring; our server accepts https anywhere and plain
        # http only for loopback, so we configure https and switch to the local http receiver with
        # update (which the SDK does not check client-side).
        hook = c.configure_webhook(f"https://127.0.0.1:{port}/hook", ["action.denied", "action.approved"], secret=secret)
        webhook_id = str(hook.get("webhook_id") or hook.get("id"))
        updated = c.update_webhook(webhook_id, url=f"http://127.0.0.1:{port}/hook")
        assert updated.url.startswith("http://127.0.0.1")
        hooks = c.list_webhooks()
        assert any(str(h.webhook_id) == webhook_id for h in hooks)
        result = c.test_webhook(webhook_id)
        assert result.success, result
        assert result.status_code == 200
        assert result.response_time_ms is not None
        headers, body = _Receiver.received[-1]
        ts = headers["x-timestamp"]
        expected = "v1=" + hmac.new(secret.encode(), (ts + ".").encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-signature"], expected)
        assert abs(time.time() - int(ts)) < 300
        # A real event is delivered and signed the same way.
        n = len(_Receiver.received)
        c.evaluate_action(action_type="database.delete", resource="users",
                          parameters={"operation": "delete", "row_count": 150, "rows": 150},
                          risk_indicators={"bulk_operation": True})
        deadline = time.time() + 20
        while len(_Receiver.received) == n and time.time() < deadline:
            time.sleep(0.1)
        headers, body = _Receiver.received[-1]
        event = json.loads(body)
        assert event["event"] == "action.denied"
        expected = "v1=" + hmac.new(secret.encode(), (headers["x-timestamp"] + ".").encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-signature"], expected)
        c.delete_webhook(webhook_id)
        assert not any(str(h.webhook_id) == webhook_id for h in c.list_webhooks())
    finally:
        server.shutdown()
