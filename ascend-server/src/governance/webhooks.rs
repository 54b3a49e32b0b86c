//! Webhook subscriptions (wire-protocol §7): create, list, change, delete, test. Every change
//! is audited (never with the signing secret).

use super::Governance;
use super::access::{self, Operation};
use crate::audit::Event;
use crate::auth::generate_secret;
use crate::error::{Error, Result};
use crate::model::{AuditKind, DeliveryAttempt, Principal, Webhook, WebhookEvent, now};
use crate::webhooks::{AttemptResult, check_url, deliver_once, hooks_of, invalidate};

/// A webhook to create.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Delivery URL (https, or http to loopback).
    pub url: String,
    /// Events (at least one).
    pub events: Vec<WebhookEvent>,
    /// Signing secret (generated when None).
    pub secret: Option<String>,
    /// Only this agent's events (a bound key's own agent).
    pub agent_id: Option<String>,
}

/// Changes to a webhook; None keeps a field.
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    /// New URL.
    pub url: Option<String>,
    /// New events.
    pub events: Option<Vec<WebhookEvent>>,
    /// New secret.
    pub secret: Option<String>,
    /// Enable or disable.
    pub active: Option<bool>,
}

fn event_names(events: &[WebhookEvent]) -> Result<Vec<String>> {
    if events.is_empty() {
        return Err(Error::field("events", "at least one event"));
    }
    Ok(events.iter().map(|e| e.as_str().to_owned()).collect())
}

/// Whether `p` may see and manage `hook`: a bound agent key those of its agent, a fleet key
/// those it created, reviewers and admins all of the organisation's.
fn visible(p: &Principal, hook: &Webhook) -> bool {
    if let Some(agent) = access::bound_agent(p, Operation::ManageWebhooks) {
        return hook.agent_id.as_deref() == Some(agent);
    }
    if let Some(key) = access::own_key(p, Operation::ManageWebhooks) {
        return hook.created_key.as_deref() == Some(key);
    }
    true
}

impl Governance {
    /// Create a webhook.
    pub async fn create_webhook(&self, p: &Principal, input: NewWebhook) -> Result<Webhook> {
        access::authorize(p, Operation::ManageWebhooks)?;
        let url = check_url(&input.url, &self.state.config)?;
        let events = event_names(&input.events)?;
        let secret = match input.secret.filter(|s| !s.is_empty()) {
            Some(s) => s,
            None => generate_secret()?,
        };
        let agent_id =
            access::acting_agent(p, Operation::ManageWebhooks, input.agent_id.as_deref())?;
        let hook = Webhook {
            id: 0,
            org_id: p.org_id,
            url: url.to_string(),
            events,
            secret,
            agent_id,
            created_key: Some(p.key_id.clone()),
            only_key: p.is_fleet_key().then(|| p.key_id.clone()),
            active: true,
            created_at: now(),
        };
        let (org, actor) = (p.org_id, p.name.clone());
        let stored = self
            .state
            .store
            .insert_webhook(
                hook,
                Box::new(move |h| {
                    Event::Webhook {
                        kind: AuditKind::WebhookCreated,
                        hook: h,
                    }
                    .draft(org, &actor, now())
                }),
            )
            .await?;
        invalidate(&self.state, p.org_id);
        Ok(stored)
    }

    /// The caller's organisation's webhooks that the caller may see (an agent key: its own).
    pub async fn webhooks(&self, p: &Principal) -> Result<Vec<Webhook>> {
        access::authorize(p, Operation::ReadWebhooks)?;
        Ok(hooks_of(&self.state, p.org_id)
            .await?
            .iter()
            .filter(|w| visible(p, w))
            .cloned()
            .collect())
    }

    async fn webhook(&self, p: &Principal, id: i64) -> Result<Webhook> {
        hooks_of(&self.state, p.org_id)
            .await?
            .iter()
            .find(|w| w.id == id && visible(p, w))
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("webhook {id} not found")))
    }

    /// Change a webhook.
    pub async fn update_webhook(
        &self,
        p: &Principal,
        id: i64,
        change: WebhookChange,
    ) -> Result<Webhook> {
        access::authorize(p, Operation::ManageWebhooks)?;
        let mut hook = self.webhook(p, id).await?;
        if let Some(url) = change.url {
            hook.url = check_url(&url, &self.state.config)?.to_string();
        }
        if let Some(events) = change.events {
            hook.events = event_names(&events)?;
        }
        if let Some(secret) = change.secret.filter(|s| !s.is_empty()) {
            hook.secret = secret;
        }
        if let Some(active) = change.active {
            hook.active = active;
        }
        let audit = self.draft(
            p,
            &Event::Webhook {
                kind: AuditKind::WebhookUpdated,
                hook: &hook,
            },
        );
        self.state.store.update_webhook(hook.clone(), audit).await?;
        invalidate(&self.state, p.org_id);
        Ok(hook)
    }

    /// Delete a webhook; the webhook as it was.
    pub async fn delete_webhook(&self, p: &Principal, id: i64) -> Result<Webhook> {
        access::authorize(p, Operation::ManageWebhooks)?;
        let hook = self.webhook(p, id).await?;
        let audit = self.draft(
            p,
            &Event::Webhook {
                kind: AuditKind::WebhookDeleted,
                hook: &hook,
            },
        );
        self.state
            .store
            .delete_webhook(p.org_id, hook.id, audit)
            .await?;
        invalidate(&self.state, p.org_id);
        Ok(hook)
    }

    /// One real, signed test delivery; its outcome (logged like every attempt).
    pub async fn test_webhook(&self, p: &Principal, id: i64) -> Result<AttemptResult> {
        access::authorize(p, Operation::ManageWebhooks)?;
        let hook = self.webhook(p, id).await?;
        let data = serde_json::json!({"webhook_id": hook.id.to_string(),
                                      "message": "test delivery from ascend-server"});
        let r = deliver_once(&self.state, &hook, "webhook.test", &data).await;
        let log = DeliveryAttempt {
            webhook_id: hook.id,
            org_id: hook.org_id,
            event: "webhook.test".into(),
            attempt: 1,
            status_code: r.status_code,
            error: r.error.clone(),
            latency_ms: r.latency_ms,
            at: now(),
        };
        self.state.store.log_delivery(log).await?;
        Ok(r)
    }
}
