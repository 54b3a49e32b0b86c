//! Audit: the chain's verification status (with the entry the last signed checkpoint covers),
//! the entries page by page, and an export.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::Console;
use super::layout::{self, Nav};
use super::session::Signed;
use crate::audit::VerifyReport;
use crate::model::AuditEntry;

const PAGE: u64 = 50;

/// Which page of entries (1 = the newest).
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    page: Option<u64>,
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn entries(rows: &[AuditEntry]) -> Markup {
    html! {
        table class="list" id="audit-entries" {
            thead { tr {
                th scope="col" class="num" { "Seq" } th scope="col" { "When" } th scope="col" { "Kind" }
                th scope="col" { "Actor" } th scope="col" { "Subject" } th scope="col" { "Hash" }
            } }
            tbody {
                @for e in rows.iter().rev() {
                    tr {
                        td class="num" { (e.seq) }
                        td { time datetime=(e.ts) { (e.ts.get(..19).unwrap_or(&e.ts).replace('T', " ")) "Z" } }
                        td { code { (e.kind) } }
                        td { (e.actor) }
                        td { code { (e.subject) } }
                        td { code title=(e.hash) { (short(&e.hash)) "…" } }
                    }
                }
            }
        }
    }
}

/// `GET /console/audit`.
pub async fn page(State(c): State<Console>, s: Signed, Query(q): Query<AuditQuery>) -> Response {
    let p = &s.principal;
    let report = c.gov().verify_audit(p).await;
    let page_no = q.page.unwrap_or(1).max(1);
    let listing = async {
        let (_, total) = c.gov().audit_page(p, 0, 1).await?;
        let end = total.saturating_sub((page_no - 1).saturating_mul(PAGE));
        let start = end.saturating_sub(PAGE);
        let (rows, _) = c.gov().audit_page(p, start, end - start).await?;
        crate::error::Result::Ok((rows, total))
    }
    .await;
    let body = html! {
        section aria-labelledby="verify-h" {
            h2 id="verify-h" { "Chain verification" }
            @match &report {
                Ok(r) if r.ok => {
                    p class="flash good" id="verify-status" data-ok="true" {
                        "Verified: " (r.entries) " entries, every hash links to the previous one and the head matches the checkpoint."
                    }
                }
                Ok(r) => {
                    p class="flash bad" id="verify-status" data-ok="false" role="alert" {
                        "BROKEN" @if let Some(at) = r.broken_at { " at entry " (at) } ": " (r.detail)
                    }
                }
                Err(e) => { p class="flash bad" role="alert" { (layout::refusal(e)) } }
            }
            (checkpoint_status(&c, &report))
            p { a href="/console/audit/export" id="audit-export" download="audit.jsonl" { "Export the whole trail (JSON lines)" } }
        }
        section aria-labelledby="entries-h" {
            h2 id="entries-h" { "Entries, newest first" }
            @match &listing {
                Ok((rows, total)) => {
                    (entries(rows))
                    nav aria-label="Audit pages" class="pager" {
                        @if page_no > 1 { a href={ "/console/audit?page=" (page_no - 1) } { "← Newer" } " " }
                        span { "Page " (page_no) " of " (total.div_ceil(PAGE).max(1)) }
                        @if page_no * PAGE < *total { " " a href={ "/console/audit?page=" (page_no + 1) } { "Older →" } }
                    }
                }
                Err(e) => { p class="flash bad" role="alert" { (layout::refusal(e)) } }
            }
        }
    };
    layout::page(&c, &s, Nav::Audit, "Audit", body).into_response()
}

/// What the signed checkpoints say about the chain just verified.
fn checkpoint_status(c: &Console, report: &crate::Result<VerifyReport>) -> Markup {
    let audit = &c.gov().config().audit;
    if !audit.enabled {
        return html! {
            p class="hint" id="checkpoint-status" { "Checkpoint signing is switched off on this server." }
        };
    }
    let every = format!(
        "every {} entries or {} s",
        audit.every,
        audit.interval.as_secs_f64()
    );
    match report {
        Ok(VerifyReport {
            signed_through: Some(n),
            ..
        }) => html! {
            p class="hint" id="checkpoint-status" data-signed-through=(n) {
                "Signed through entry " (n) ": the last Ed25519-signed checkpoint verified against the chain; "
                "later entries are covered by the next one (" (every) "). An auditor checks the "
                "evidence package offline with " code { "ascend audit verify --evidence DIR --pubkey FILE" } "."
            }
        },
        Ok(_) => html! {
            p class="hint" id="checkpoint-status" {
                "No signed checkpoint covers this chain yet; the next is signed " (every) "."
            }
        },
        Err(_) => html! {},
    }
}

/// `GET /console/audit/export`: every entry of the organisation as JSON lines, hashes included.
pub async fn export(State(c): State<Console>, s: Signed) -> Response {
    match c.gov().audit_export(&s.principal).await {
        Ok(entries) => {
            let mut out = Vec::with_capacity(entries.len() * 256);
            for e in &entries {
                if serde_json::to_writer(&mut out, e).is_err() {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
                out.push(b'\n');
            }
            (
                [
                    (header::CONTENT_TYPE, "application/x-ndjson"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"audit.jsonl\"",
                    ),
                ],
                out,
            )
                .into_response()
        }
        Err(e) => (e.status(), layout::refusal(&e)).into_response(),
    }
}
