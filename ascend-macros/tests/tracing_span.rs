//! The `governed` tracing span: one per call, carrying the action id, the decision, the risk
//! score and the outcome; the body runs inside it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use ascend_runtime::testing::MockGovernance;
use ascend_runtime::{Error, governed};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

type Fields = BTreeMap<String, String>;
/// (message, name of the span the event happened in).
type Events = Vec<(String, Option<String>)>;

/// Records the fields of every span named `governed`, and the span each event happened in.
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<(Id, Fields)>>>,
    events_in: Arc<Mutex<Events>>,
}

struct Visitor<'a>(&'a mut Fields);

impl Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        if attrs.metadata().name() == "governed" {
            let mut fields = Fields::new();
            attrs.record(&mut Visitor(&mut fields));
            self.spans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((id.clone(), fields));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, fields)) = spans.iter_mut().find(|(sid, _)| sid == id) {
            values.record(&mut Visitor(fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::new();
        event.record(&mut Visitor(&mut fields));
        let span = ctx.event_span(event).map(|s| s.name().to_owned());
        self.events_in
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((fields.remove("message").unwrap_or_default(), span));
    }
}

#[governed(action_type = "database.write", resource = "customers")]
fn write(n: u32) -> Result<u32, Error> {
    tracing::info!("inside the body");
    Ok(n)
}

#[governed(action_type = "database.write", resource = "customers")]
async fn write_async(n: u32) -> Result<u32, Error> {
    tracing::info!("inside the async body");
    Err(Error::Configuration(format!("failing on purpose {n}")))
}

#[test]
fn span_carries_action_id_decision_risk_and_outcome() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let mock = MockGovernance::allow_all();
    tracing::subscriber::with_default(subscriber, || {
        let _guard = mock.install_for_thread();
        assert_eq!(write(3).ok(), Some(3));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        assert!(rt.block_on(write_async(4)).is_err());
    });

    let spans = capture
        .spans
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (_, sync_fields) = &spans[0];
    assert_eq!(sync_fields["action_type"], "database.write");
    assert_eq!(sync_fields["tool"], "write");
    assert_eq!(sync_fields["decision"], "allowed");
    assert_eq!(sync_fields["risk_score"], "10.0");
    assert_eq!(sync_fields["outcome"], "completed");
    // The reported outcomes carry the action ids the double assigned.
    let action_ids: Vec<String> = mock.outcomes().into_iter().map(|(id, _)| id).collect();
    assert_eq!(sync_fields["action_id"], action_ids[0]);
    let (_, async_fields) = &spans[1];
    assert_eq!(async_fields["tool"], "write_async");
    assert_eq!(async_fields["outcome"], "failed");
    assert_eq!(async_fields["action_id"], action_ids[1]);

    let events = capture
        .events_in
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for body_event in ["inside the body", "inside the async body"] {
        let (_, span) = events
            .iter()
            .find(|(m, _)| m == body_event)
            .unwrap_or_else(|| panic!("no event {body_event:?} in {events:?}"));
        assert_eq!(span.as_deref(), Some("governed"), "{body_event}");
    }
}

#[test]
fn span_records_a_denial() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let mock = MockGovernance::deny_all();
    tracing::subscriber::with_default(subscriber, || {
        let _guard = mock.install_for_thread();
        assert!(write(1).is_err());
    });
    let spans = capture
        .spans
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert_eq!(spans.len(), 1);
    let fields = &spans[0].1;
    assert_eq!(fields["decision"], "denied");
    assert_eq!(fields["risk_score"], "90.0");
    assert!(!fields.contains_key("outcome"), "{fields:?}");
}
