//! Identifier normalisation: agent ids, action types, resources, tool and server names are
//! compared in one canonical form, so `t\u{200b}ransaction`, `ｆｉｌｅ．ｄｅｌｅｔｅ` and
//! `Agent-K` match the rules, policies and kill switches written for `transaction`,
//! `file.delete` and `agent-k`.
//!
//! The form: Unicode NFKC (compatibility characters such as full-width letters become their
//! plain counterparts), with every Default_Ignorable_Code_Point removed (zero-width spaces and
//! joiners, soft hyphens, variation selectors…), lower-cased (full Unicode case mapping), and
//! NFKC again. Control characters and bidirectional formatting characters are refused
//! outright (422): they have no place in an identifier and only serve to make two different
//! strings look alike.
//!
//! ```
//! use ascend_server::ident::identifier;
//! assert_eq!(identifier("action_type", "ｆｉｌｅ．ｄｅｌｅｔｅ").unwrap(), "file.delete");
//! assert_eq!(identifier("agent_id", "Agent-K\u{200b}").unwrap(), "agent-k");
//! assert!(identifier("agent_id", "agent\u{202e}k").is_err());
//! assert!(identifier("agent_id", "agent\nk").is_err());
//! ```

use icu_properties::CodePointSetData;
use icu_properties::props::DefaultIgnorableCodePoint;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// Bidirectional formatting characters (embeddings, overrides, isolates, marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Refuse control and bidi characters in `value` (a 422 naming `field`).
pub fn check(field: &str, value: &str) -> Result<()> {
    match value
        .chars()
        .find(|c| c.is_control() || is_bidi_control(*c))
    {
        Some(c) => Err(Error::field(
            field,
            format!(
                "must not contain control or bidirectional characters (found U+{:04X})",
                c as u32
            ),
        )),
        None => Ok(()),
    }
}

/// The canonical form of `value` (see the [module docs](self)); no checks.
pub fn fold(value: &str) -> String {
    // ASCII fast path: only case and surrounding space to fix.
    if value.is_ascii() {
        return value.trim().to_ascii_lowercase();
    }
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    let stripped: String = value
        .nfkc()
        .filter(|c| !ignorable.contains(*c))
        .collect::<String>()
        .to_lowercase();
    stripped.nfkc().collect::<String>().trim().to_owned()
}

/// [`check`], then NFKC with the default-ignorable code points removed, case kept: for
/// action types and resources, whose case the risk engine reads (`s3:DeleteBucket` is the words
/// delete + bucket) and matches case-insensitively itself.
///
/// ```
/// use ascend_server::ident::normalise;
/// assert_eq!(normalise("action_type", "t\u{200b}ransaction").unwrap(), "transaction");
/// assert_eq!(normalise("action_type", "s3:DeleteBucket").unwrap(), "s3:DeleteBucket");
/// assert_eq!(normalise("action_type", "ｆｉｌｅ．ｄｅｌｅｔｅ").unwrap(), "file.delete");
/// ```
pub fn normalise(field: &str, value: &str) -> Result<String> {
    check(field, value)?;
    if value.is_ascii() {
        return Ok(value.trim().to_owned());
    }
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    Ok(value
        .nfkc()
        .filter(|c| !ignorable.contains(*c))
        .collect::<String>()
        .trim()
        .to_owned())
}

/// [`check`] then [`fold`]: the identifier to match on.
pub fn identifier(field: &str, value: &str) -> Result<String> {
    check(field, value)?;
    Ok(fold(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_fold_to_one_form() {
        for (raw, canonical) in [
            ("t\u{200b}ransaction", "t".to_owned() + "ransaction"),
            ("ｆｉｌｅ．ｄｅｌｅｔｅ", "file.delete".to_owned()),
            ("Agent-K", "agent-k".to_owned()),
            ("agent-k\u{200b}", "agent-k".to_owned()),
            ("agent\u{00AD}-k", "agent-k".to_owned()),
            ("ﬁle.read", "file.read".to_owned()),
            ("DATABASE.WRITE", "database.write".to_owned()),
            ("  spaced  ", "spaced".to_owned()),
        ] {
            assert_eq!(identifier("x", raw).unwrap(), canonical, "{raw:?}");
        }
    }

    #[test]
    fn control_and_bidi_characters_are_refused() {
        for bad in [
            "a\u{0000}b",
            "a\tb",
            "a\u{202E}b",
            "a\u{2066}b",
            "a\u{200F}",
            "a\u{7f}",
        ] {
            assert!(identifier("agent_id", bad).is_err(), "{bad:?}");
        }
        assert!(identifier("agent_id", "ordinary-agent_1.v2").is_ok());
    }
}
