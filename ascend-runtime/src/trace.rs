//! W3C Trace Context for governance requests: every HTTP request to the governance service
//! carries a `traceparent` header, so the server's decision joins the caller's trace.
//!
//! Where the header comes from:
//!
//! 1. the source set with [`set_source`] — typically the OpenTelemetry context of the current
//!    `tracing` span (the `ascend-opentelemetry` integration crate installs one), so the
//!    decision request is a child of the governed call's span in the same trace;
//! 2. otherwise a fresh random trace id and parent id for that request.
//!
//! For the decision request (the submit of a governed call) the trace id is also recorded on
//! the current span as `trace_id` — the `governed` span of `#[governed]` declares that field —
//! so the tool call's span and the server's decision can be found by one id.
//!
//! ```
//! use ascend_runtime::trace::Traceparent;
//!
//! let tp = Traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
//! assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!(tp.sampled());
//! assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
//! assert!(Traceparent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
//! ```

use std::fmt;
use std::sync::OnceLock;

/// The header name.
pub const HEADER: &str = "traceparent";

/// A W3C `traceparent` value (version `00`): trace id, parent (span) id, sampled flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Traceparent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

impl Traceparent {
    /// A context from its parts; `None` when either id is all zeros (invalid in W3C).
    pub fn new(trace_id: [u8; 16], parent_id: [u8; 8], sampled: bool) -> Option<Self> {
        (trace_id != [0; 16] && parent_id != [0; 8]).then_some(Traceparent {
            trace_id,
            parent_id,
            flags: u8::from(sampled),
        })
    }

    /// A new random trace id and parent id, sampled.
    pub fn generate() -> Self {
        let a = *uuid::Uuid::new_v4().as_bytes();
        let b = *uuid::Uuid::new_v4().as_bytes();
        let mut parent_id = [0u8; 8];
        parent_id.copy_from_slice(&b[..8]);
        // v4 UUIDs are never all zeros, so both ids are valid.
        Traceparent {
            trace_id: a,
            parent_id,
            flags: 1,
        }
    }

    /// Parse a header value. Version `00` must be exactly `00-<32 hex>-<16 hex>-<2 hex>`; a
    /// higher version may carry more fields after these (W3C forward compatibility); version
    /// `ff`, upper-case hex and all-zero ids are invalid.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let version = value.get(0..2)?;
        if !is_lower_hex(version) || version == "ff" {
            return None;
        }
        if version == "00" && value.len() != 55 {
            return None;
        }
        let rest = value.get(2..)?;
        let mut parts = rest.splitn(4, '-');
        let (_, trace, parent, tail) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if tail.len() > 2 && tail.as_bytes().get(2) != Some(&b'-') {
            return None;
        }
        let flags = tail.get(0..2)?;
        if trace.len() != 32 || parent.len() != 16 || flags.len() != 2 {
            return None;
        }
        if !(is_lower_hex(trace) && is_lower_hex(parent) && is_lower_hex(flags)) {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        hex::decode_to_slice(trace, &mut trace_id).ok()?;
        hex::decode_to_slice(parent, &mut parent_id).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        let mut tp = Traceparent::new(trace_id, parent_id, false)?;
        tp.flags = flags;
        Some(tp)
    }

    /// The trace id as 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex::encode(self.trace_id)
    }

    /// The parent (span) id as 16 lower-case hex digits.
    pub fn parent_id_hex(&self) -> String {
        hex::encode(self.parent_id)
    }

    /// Whether the caller sampled this trace.
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            self.parent_id_hex(),
            self.flags
        )
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

type Source = Box<dyn Fn() -> Option<Traceparent> + Send + Sync>;

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Set, once per process, where the `traceparent` of governance requests comes from (it is
/// called on the caller's task, inside the caller's span). Returns `false` when a source was
/// already set. When the source answers `None`, a random context is generated.
pub fn set_source(source: impl Fn() -> Option<Traceparent> + Send + Sync + 'static) -> bool {
    SOURCE.set(Box::new(source)).is_ok()
}

/// The context the installed source gives here, if any.
pub(crate) fn from_source() -> Option<Traceparent> {
    SOURCE.get().and_then(|source| source())
}

/// The context for one outgoing request: the source's, or a new random one.
pub(crate) fn outgoing() -> Traceparent {
    from_source().unwrap_or_else(Traceparent::generate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_like_the_w3c_rules() {
        let ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
        let tp = Traceparent::parse(ok).expect("valid");
        assert!(!tp.sampled());
        assert_eq!(tp.parent_id_hex(), "00f067aa0ba902b7");
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert!(Traceparent::parse(bad).is_none(), "{bad:?}");
        }
        // A later version may append fields.
        let v1 = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        assert!(Traceparent::parse(v1).is_some());
    }

    #[test]
    fn generated_contexts_are_valid_and_distinct() {
        let a = Traceparent::generate();
        let b = Traceparent::generate();
        assert_ne!(a.trace_id, b.trace_id);
        assert_eq!(Traceparent::parse(&a.to_string()), Some(a));
    }
}
