//! How an audit entry is stored (migration 5) and read back without allocating.
//!
//! A row of `audit_log` holds what the hash covers, compactly:
//! - `ts`: the time as INTEGER microseconds since the Unix epoch when the hashed text is exactly
//!   what [`format_ts`] makes of it (every time the server writes), else the text itself;
//! - `kind`: a small INTEGER code from [`KINDS`], else the text itself;
//! - `hash`: the entry's SHA-256 as a 32-byte BLOB (anything else is malformed);
//! - `link`: how the entry links to the one before it. The previous entry's hash is not stored a
//!   second time: it is the `hash` of the organisation's previous row. `link` holds the first two
//!   bytes of it as an INTEGER tag, which tells, when an entry no longer matches, whether the
//!   entry itself or the one before it was rewritten. A migrated row whose stored `prev_hash` was
//!   not the previous row's hash keeps that value verbatim (a 32-byte BLOB, or the old text), so
//!   verification still reports what it did before the migration.
//!
//! The HTTP API and the evidence package still show hashes as lowercase hex and `prev_hash`
//! explicitly ([`RowDecoder::entry`]).

use rusqlite::Row;
use rusqlite::types::{Value, ValueRef};

use crate::audit::chain::{EntryRef, GENESIS, Link, parse_hash};
use crate::model::{AuditEntry, Timestamp};

/// Stored kind codes: the index in this list. Append only (stored rows hold the codes).
pub const KINDS: &[&str] = &[
    "server.started",
    "action.decided",
    "action.blocked",
    "action.approval_vote",
    "action.denied_by_reviewer",
    "action.expired",
    "action.completed",
    "action.failed",
    "kill_switch.triggered",
    "kill_switch.released",
    "agent.registered",
    "key.created",
    "key.revoked",
    "org.created",
    "policy.reloaded",
    "mcp_server.registered",
    "mcp_server.updated",
    "mcp_server.activated",
    "mcp_server.deactivated",
    "mcp_server.deleted",
    "webhook.created",
    "webhook.updated",
    "webhook.deleted",
];

/// Length of the RFC 3339 text [`format_ts`] writes.
pub const TS_LEN: usize = 27;
/// Microseconds of 10000-01-01T00:00:00Z (the first time [`format_ts`] cannot write).
const TS_END: i64 = 253_402_300_800_000_000;

/// The stored form of a kind: its code, or the text for a kind not in [`KINDS`].
pub fn kind_value(kind: &str) -> Value {
    match KINDS.iter().position(|k| *k == kind) {
        Some(i) => Value::Integer(i as i64),
        None => Value::Text(kind.to_owned()),
    }
}

/// The stored form of a time text: INTEGER microseconds when [`format_ts`] gives back exactly
/// this text, else the text.
pub fn ts_value(ts: &str) -> Value {
    if let Some(t) = Timestamp::parse(ts) {
        let micros = t.unix_micros();
        let mut buf = [0u8; TS_LEN];
        if format_ts(micros, &mut buf).is_some_and(|s| s == ts.as_bytes()) {
            return Value::Integer(micros);
        }
    }
    Value::Text(ts.to_owned())
}

/// The first two bytes of a hash, as the `link` tag.
pub fn link_tag(prev: &[u8; 32]) -> i64 {
    i64::from(u16::from_be_bytes([prev[0], prev[1]]))
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for `micros` since the Unix epoch (UTC), into `buf`; None
/// outside years 1970..=9999.
pub fn format_ts(micros: i64, buf: &mut [u8; TS_LEN]) -> Option<&[u8]> {
    if !(0..TS_END).contains(&micros) {
        return None;
    }
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let days = secs / 86_400;
    let sod = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut put = |at: usize, v: i64, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, sod / 3600, 2);
    put(14, sod / 60 % 60, 2);
    put(17, sod % 60, 2);
    put(20, frac, 6);
    buf[4] = b'-';
    buf[7] = b'-';
    buf[10] = b'T';
    buf[13] = b':';
    buf[16] = b':';
    buf[19] = b'.';
    buf[26] = b'Z';
    Some(&buf[..])
}

fn bytes(v: ValueRef<'_>) -> Option<&[u8]> {
    match v {
        ValueRef::Text(t) => Some(t),
        _ => None,
    }
}

/// A stored hash: a 32-byte BLOB.
pub fn hash_of(v: ValueRef<'_>) -> Option<[u8; 32]> {
    match v {
        ValueRef::Blob(b) => b.try_into().ok(),
        _ => None,
    }
}

fn link_of(v: ValueRef<'_>) -> Link {
    match v {
        ValueRef::Integer(i) => match u16::try_from(i) {
            Ok(t) => Link::Tag(t),
            Err(_) => Link::Full(None),
        },
        ValueRef::Blob(b) => Link::Full(b.try_into().ok()),
        ValueRef::Text(t) => Link::Full(std::str::from_utf8(t).ok().and_then(parse_hash)),
        _ => Link::Full(None),
    }
}

/// The columns [`RowDecoder`] reads, in order.
pub const COLUMNS: &str = "id, org_id, seq, ts, kind, actor, subject, payload, hash, link";

/// Decodes rows selected with [`COLUMNS`]; holds the buffer a time is formatted into.
#[derive(Debug, Default)]
pub struct RowDecoder {
    ts: [u8; TS_LEN],
}

/// A value that cannot be an entry's (a NULL, a number where text belongs, an unknown kind
/// code): the entry is malformed.
const MALFORMED: &[u8] = b"\xff<malformed>";

impl RowDecoder {
    /// A decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry of a row (nothing is allocated). Values of the wrong type decode to bytes no
    /// hash covers, so the entry fails verification.
    pub fn decode<'r>(&'r mut self, r: &'r Row<'_>) -> rusqlite::Result<EntryRef<'r>> {
        let ts = match r.get_ref(3)? {
            ValueRef::Integer(m) => format_ts(m, &mut self.ts).unwrap_or(MALFORMED),
            v => bytes(v).unwrap_or(MALFORMED),
        };
        let kind = match r.get_ref(4)? {
            ValueRef::Integer(c) => usize::try_from(c)
                .ok()
                .and_then(|c| KINDS.get(c))
                .map_or(MALFORMED, |k| k.as_bytes()),
            v => bytes(v).unwrap_or(MALFORMED),
        };
        let int = |i: usize| -> rusqlite::Result<i64> {
            Ok(match r.get_ref(i)? {
                ValueRef::Integer(v) => v,
                _ => i64::MIN,
            })
        };
        Ok(EntryRef {
            org_id: int(1)?,
            seq: int(2)?,
            ts,
            kind,
            actor: bytes(r.get_ref(5)?).unwrap_or(MALFORMED),
            subject: bytes(r.get_ref(6)?).unwrap_or(MALFORMED),
            payload: bytes(r.get_ref(7)?).unwrap_or(MALFORMED),
            hash: hash_of(r.get_ref(8)?),
            link: link_of(r.get_ref(9)?),
        })
    }

    /// The entry of a row as the API and the evidence package show it; `prev` is the hash of
    /// the organisation's previous row as shown (64 zeros before the first).
    pub fn entry(&mut self, r: &Row<'_>, prev: &str) -> rusqlite::Result<AuditEntry> {
        let row_id: i64 = r.get(0)?;
        let shown_hash = shown(r.get_ref(8)?);
        let shown_prev = match r.get_ref(9)? {
            ValueRef::Integer(_) => prev.to_owned(),
            v => shown(v),
        };
        let e = self.decode(r)?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(AuditEntry {
            row_id,
            org_id: e.org_id,
            seq: e.seq,
            ts: text(e.ts),
            kind: text(e.kind),
            actor: text(e.actor),
            subject: text(e.subject),
            payload: text(e.payload),
            prev_hash: shown_prev,
            hash: shown_hash,
        })
    }
}

/// A stored hash as shown: lowercase hex of a BLOB, a text as it is.
pub fn shown(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Blob(b) => hex::encode(b),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Null => String::new(),
    }
}

/// 64 zeros: the `prev_hash` shown for the first entry.
pub fn genesis_hex() -> String {
    hex::encode(GENESIS)
}

/// Migration 5: `audit_log` rewritten in the compact form (the hashes as BLOBs, no stored
/// `prev_hash`, times and kinds as integers), row ids kept. Nothing a verification reported
/// before is lost: a value that does not convert exactly stays as it was (a malformed hash stays
/// malformed), and a stored `prev_hash` that is not the previous row's hash is kept in `link`.
/// The space of the old table returns to SQLite's free list (`VACUUM` gives it back to the file
/// system).
pub(super) fn migrate_v5(c: &rusqlite::Connection) -> crate::error::Result<()> {
    c.execute_batch(
        "CREATE TABLE audit_log_v5 (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, \
         seq INTEGER NOT NULL, ts NOT NULL, kind NOT NULL, actor TEXT NOT NULL, \
         subject TEXT NOT NULL, payload TEXT NOT NULL, hash BLOB NOT NULL, link NOT NULL);",
    )?;
    {
        let mut read = c.prepare(
            "SELECT id, org_id, seq, ts, kind, actor, subject, payload, prev_hash, hash \
             FROM audit_log ORDER BY org_id, id",
        )?;
        let mut write = c.prepare(
            "INSERT INTO audit_log_v5 (id, org_id, seq, ts, kind, actor, subject, payload, hash, \
             link) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut rows = read.query([])?;
        // (org, the previous row's stored hash as parsed).
        let mut last: Option<(i64, Option<[u8; 32]>)> = None;
        while let Some(r) = rows.next()? {
            let org: i64 = r.get(1)?;
            let stored = |i: usize| -> rusqlite::Result<Value> {
                Ok(match r.get::<_, Value>(i)? {
                    Value::Text(t) => match parse_hash(&t) {
                        Some(h) => Value::Blob(h.to_vec()),
                        None => Value::Text(t),
                    },
                    v => v,
                })
            };
            let hash = stored(9)?;
            let prev_row = match last {
                Some((o, h)) if o == org => h,
                _ => Some(GENESIS),
            };
            let prev = stored(8)?;
            let link = match (&prev, prev_row) {
                (Value::Blob(p), Some(h)) if p.as_slice() == h.as_slice() => {
                    Value::Integer(link_tag(&h))
                }
                _ => prev,
            };
            let text = |i: usize| -> rusqlite::Result<Value> {
                Ok(match r.get::<_, Value>(i)? {
                    Value::Text(t) if i == 3 => ts_value(&t),
                    Value::Text(t) => kind_value(&t),
                    v => v,
                })
            };
            last = Some((org, hash_of(ValueRef::from(&hash))));
            write.execute(rusqlite::params![
                r.get::<_, Value>(0)?,
                org,
                r.get::<_, Value>(2)?,
                text(3)?,
                text(4)?,
                r.get::<_, Value>(5)?,
                r.get::<_, Value>(6)?,
                r.get::<_, Value>(7)?,
                hash,
                link,
            ])?;
        }
    }
    c.execute_batch(
        "DROP TABLE audit_log; ALTER TABLE audit_log_v5 RENAME TO audit_log; \
         CREATE INDEX audit_by_org ON audit_log (org_id, id);",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_like_chrono() {
        let mut buf = [0u8; TS_LEN];
        for micros in [
            0i64,
            951_782_400_000_000, // 2000-02-29
            1_764_655_542_123_456,
            4_107_542_399_999_999, // 2100-02-28T23:59:59.999999
            TS_END - 1,
        ] {
            let t = chrono::DateTime::from_timestamp_micros(micros).unwrap();
            let want = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            assert_eq!(format_ts(micros, &mut buf).unwrap(), want.as_bytes());
            assert_eq!(ts_value(&want), Value::Integer(micros));
        }
        assert!(format_ts(-1, &mut buf).is_none());
        assert!(format_ts(TS_END, &mut buf).is_none());
        // Texts the formatter would not write stay texts.
        for t in [
            "2020-01-01T00:00:00Z",
            "2026-12-02T06:05:42.123456+00:00",
            "x",
        ] {
            assert_eq!(ts_value(t), Value::Text(t.to_owned()));
        }
    }

    #[test]
    fn kinds_are_coded_and_unknown_kinds_kept() {
        assert_eq!(kind_value("server.started"), Value::Integer(0));
        assert_eq!(kind_value("action.blocked"), Value::Integer(2));
        assert_eq!(kind_value("custom.kind"), Value::Text("custom.kind".into()));
        for k in crate::model::AuditKind::ALL {
            assert!(KINDS.contains(&k.as_str()), "{k} has no code");
        }
    }
}
