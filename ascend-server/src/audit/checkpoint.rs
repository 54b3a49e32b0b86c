//! Signed checkpoints of the chain heads, kept apart from the database.
//!
//! A [`Checkpoint`] states, under the server's Ed25519 key, "organisation O's chain had its entry
//! `seq` with hash H at time T". Each organisation's checkpoints form a chain of their own (`n`
//! counts them from 1; `prev` is the [`Checkpoint::digest`] of the previous one), so a checkpoint
//! cannot be dropped from the middle of a copy unnoticed. The server appends every checkpoint to
//! the database (table `audit_checkpoints`) and to a JSON-lines log file the database does not
//! control ([`CheckpointLog`]); verification compares the chain with the newest checkpoints it
//! can trust, so truncating or rewriting the chain shows against the last published checkpoint.
//!
//! The [`Reason`] says why a checkpoint was made: an entry appended after a `shutdown`
//! checkpoint and before the next `startup` one was not written by the server.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::chain::parse_hash;
use crate::error::{Error, Result};

const DOMAIN: &[u8] = b"ascend-checkpoint-v1";

/// Why a checkpoint was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Every N entries or T seconds.
    Periodic,
    /// The store opened: the head as found.
    Startup,
    /// The store closed cleanly: nothing is appended after this until the next startup.
    Shutdown,
}

impl Reason {
    /// The text signed.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Periodic => "periodic",
            Reason::Startup => "startup",
            Reason::Shutdown => "shutdown",
        }
    }

    /// Parse the stored text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "periodic" => Some(Reason::Periodic),
            "startup" => Some(Reason::Startup),
            "shutdown" => Some(Reason::Shutdown),
            _ => None,
        }
    }
}

/// One signed statement about an organisation's chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Organisation.
    pub org_id: i64,
    /// Position in the organisation's checkpoint chain, from 1.
    pub n: i64,
    /// Sequence number of the chain entry it covers (0: the chain was empty).
    pub seq: i64,
    /// Hex hash of that entry (64 zeros for an empty chain).
    pub hash: String,
    /// When it was signed (RFC 3339).
    pub ts: String,
    /// Why.
    pub reason: Reason,
    /// Hex digest of the organisation's previous checkpoint (64 zeros for the first).
    pub prev: String,
    /// Hex Ed25519 signature over [`Checkpoint::signed_bytes`].
    pub sig: String,
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

impl Checkpoint {
    /// The canonical bytes the signature covers (length-prefixed fields after a domain tag).
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        field(&mut out, DOMAIN);
        field(&mut out, &self.org_id.to_be_bytes());
        field(&mut out, &self.n.to_be_bytes());
        field(&mut out, &self.seq.to_be_bytes());
        field(&mut out, self.hash.as_bytes());
        field(&mut out, self.ts.as_bytes());
        field(&mut out, self.reason.as_str().as_bytes());
        field(&mut out, self.prev.as_bytes());
        out
    }

    /// SHA-256 over the signed bytes and the signature: what the next checkpoint's `prev` is.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.signed_bytes());
        h.update(self.sig.as_bytes());
        h.finalize().into()
    }

    /// Whether the signature is valid under `key` and the hashes are well formed.
    pub fn signature_ok(&self, key: &VerifyingKey) -> bool {
        if parse_hash(&self.hash).is_none() || parse_hash(&self.prev).is_none() {
            return false;
        }
        let Ok(sig) = hex::decode(&self.sig) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&sig) else {
            return false;
        };
        key.verify(&self.signed_bytes(), &sig).is_ok()
    }

    /// The head hash as bytes (zeros when malformed; [`Checkpoint::signature_ok`] rejects those).
    pub fn hash_bytes(&self) -> [u8; 32] {
        parse_hash(&self.hash).unwrap_or([0u8; 32])
    }

    /// One JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The server's checkpoint signing key.
pub struct Signer {
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A key from a 64-hex-digit seed (what `ASCEND_AUDIT_KEY` and the key file hold).
    pub fn from_hex(seed: &str) -> Result<Self> {
        let seed = hex32(seed.trim()).ok_or_else(|| {
            Error::Config("an audit signing key is 64 hex digits (a 32-byte seed)".into())
        })?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// Load the key file at `path`, or create it (mode 0600, a fresh random seed) when absent.
    /// Refuses a key file that others may read.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                check_private(path)?;
                Self::from_hex(&text)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed)
                    .map_err(|e| Error::Internal(format!("no randomness for a key: {e}")))?;
                if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(path)?;
                f.write_all(hex::encode(seed).as_bytes())?;
                f.sync_all()?;
                Ok(Self {
                    key: SigningKey::from_bytes(&seed),
                })
            }
            Err(e) => Err(Error::Config(format!(
                "cannot read the audit key {}: {e}",
                path.display()
            ))),
        }
    }

    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    /// The public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Sign organisation `org_id`'s head (`seq`, `hash`) as its checkpoint number `n`, chained to
    /// the previous checkpoint's digest `prev`.
    pub fn sign(
        &self,
        org_id: i64,
        n: i64,
        head: (i64, [u8; 32]),
        ts: String,
        reason: Reason,
        prev: [u8; 32],
    ) -> Checkpoint {
        let mut c = Checkpoint {
            org_id,
            n,
            seq: head.0,
            hash: hex::encode(head.1),
            ts,
            reason,
            prev: hex::encode(prev),
            sig: String::new(),
        };
        c.sig = hex::encode(self.key.sign(&c.signed_bytes()).to_bytes());
        c
    }
}

#[cfg(unix)]
fn check_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(Error::Config(format!(
            "the audit key {} is readable by others (mode {:o}); chmod 600 it",
            path.display(),
            mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<()> {
    Ok(())
}

/// 64 hex digits of either case (keys are typed and pasted by people).
fn hex32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

/// Parse a public key: 64 hex digits (surrounding whitespace ignored).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey> {
    let bytes =
        hex32(text.trim()).ok_or_else(|| Error::Config("a public key is 64 hex digits".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|e| Error::Config(format!("not an Ed25519 public key: {e}")))
}

/// The append-only checkpoint log file (one JSON line per checkpoint, flushed and synced).
#[derive(Debug)]
pub struct CheckpointLog {
    path: PathBuf,
    file: std::fs::File,
}

impl CheckpointLog {
    /// Open (creating) the log for appending.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            path: path.to_owned(),
            file,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append checkpoints and sync the file.
    pub fn append(&mut self, cps: &[Checkpoint]) -> Result<()> {
        let mut buf = String::new();
        for c in cps {
            buf.push_str(&c.to_line());
            buf.push('\n');
        }
        self.file.write_all(buf.as_bytes())?;
        self.file.sync_data()?;
        Ok(())
    }
}

/// A line of a checkpoint log that is not a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// Line number, from 1.
    pub line: usize,
    /// Why.
    pub error: String,
}

/// Read every checkpoint of a log (a missing file reads as empty); lines that do not parse are
/// returned apart.
pub fn read_log(path: &Path) -> Result<(Vec<Checkpoint>, Vec<BadLine>)> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(e.into()),
    };
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Checkpoint>(&line) {
            Ok(c) => good.push(c),
            Err(e) => bad.push(BadLine {
                line: i + 1,
                error: e.to_string(),
            }),
        }
    }
    Ok((good, bad))
}

/// A checkpoint that verified, reduced to what the chain walk compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedHead {
    /// Checkpoint number.
    pub n: i64,
    /// Entry covered.
    pub seq: i64,
    /// Its hash.
    pub hash: [u8; 32],
    /// Why it was made.
    pub reason: Reason,
}

/// A problem with the checkpoints themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointProblem {
    /// Organisation.
    pub org_id: i64,
    /// The chain entry the checkpoint covers (0 when unknown).
    pub seq: i64,
    /// A sentence.
    pub detail: String,
}

/// The checkpoints that verified, per organisation in order, and what is wrong with the rest.
#[derive(Debug, Clone, Default)]
pub struct Trusted {
    /// Organisation → its verified checkpoints, by `n`.
    pub heads: BTreeMap<i64, Vec<SignedHead>>,
    /// Problems found.
    pub problems: Vec<CheckpointProblem>,
}

impl Trusted {
    /// The verified checkpoints of one organisation.
    pub fn of(&self, org_id: i64) -> &[SignedHead] {
        self.heads.get(&org_id).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Check checkpoints from several sources (each `(label, checkpoints)`, e.g. the log file and
/// the database) under `key`: signatures, each organisation's checkpoint chain (`n` from 1,
/// `prev` links, sequence numbers never going back), the same `n` never saying two different
/// things, and the source named `must_hold` holding every checkpoint the others hold (the
/// database losing checkpoints is tampering too).
pub fn check(key: &VerifyingKey, sources: &[(&str, &[Checkpoint])], must_hold: &str) -> Trusted {
    let mut out = Trusted::default();
    // org → n → (checkpoint, sources holding it)
    let mut all: BTreeMap<i64, BTreeMap<i64, (Checkpoint, Vec<&str>)>> = BTreeMap::new();
    for (label, cps) in sources {
        for c in cps.iter() {
            if !c.signature_ok(key) {
                out.problems.push(CheckpointProblem {
                    org_id: c.org_id,
                    seq: c.seq,
                    detail: format!(
                        "checkpoint {} of org {} in the {label} has an invalid signature",
                        c.n, c.org_id
                    ),
                });
                continue;
            }
            let slot = all.entry(c.org_id).or_default();
            match slot.get_mut(&c.n) {
                Some((seen, labels)) if seen == c => labels.push(label),
                Some((seen, _)) => out.problems.push(CheckpointProblem {
                    org_id: c.org_id,
                    seq: c.seq.min(seen.seq),
                    detail: format!(
                        "two different signed checkpoints number {} for org {} (entry {} and \
                         entry {}): the chain was forked",
                        c.n, c.org_id, seen.seq, c.seq
                    ),
                }),
                None => {
                    slot.insert(c.n, (c.clone(), vec![label]));
                }
            }
        }
    }
    let labels: Vec<&str> = sources
        .iter()
        .map(|(l, _)| *l)
        .filter(|l| *l == must_hold)
        .collect();
    for (org, cps) in all {
        let mut prev = [0u8; 32];
        let mut last_seq = 0;
        let mut heads = Vec::new();
        for (expect_n, (n, (c, held))) in (1..).zip(cps) {
            if n != expect_n {
                out.problems.push(CheckpointProblem {
                    org_id: org,
                    seq: c.seq,
                    detail: format!("checkpoints {expect_n}..{} of org {org} are missing", n - 1),
                });
                break;
            }
            if parse_hash(&c.prev) != Some(prev) || c.seq < last_seq {
                out.problems.push(CheckpointProblem {
                    org_id: org,
                    seq: c.seq,
                    detail: format!(
                        "checkpoint {n} of org {org} does not link to checkpoint {}",
                        n - 1
                    ),
                });
                break;
            }
            for l in &labels {
                if !held.contains(l) {
                    out.problems.push(CheckpointProblem {
                        org_id: org,
                        seq: c.seq,
                        detail: format!(
                            "signed checkpoint {n} of org {org} (entry {}) is missing from the {l}",
                            c.seq
                        ),
                    });
                }
            }
            prev = c.digest();
            last_seq = c.seq;
            heads.push(SignedHead {
                n,
                seq: c.seq,
                hash: c.hash_bytes(),
                reason: c.reason,
            });
        }
        out.heads.insert(org, heads);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::from_hex(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn signed_chain_verifies_and_edits_do_not() {
        let s = signer();
        let a = s.sign(
            1,
            1,
            (3, [7u8; 32]),
            "t1".into(),
            Reason::Periodic,
            [0u8; 32],
        );
        let b = s.sign(
            1,
            2,
            (9, [8u8; 32]),
            "t2".into(),
            Reason::Shutdown,
            a.digest(),
        );
        let key = s.verifying_key();
        let t = check(&key, &[("log", &[a.clone(), b.clone()])], "log");
        assert!(t.problems.is_empty(), "{:?}", t.problems);
        assert_eq!(t.of(1).len(), 2);
        let mut forged = b.clone();
        forged.seq = 4;
        let t = check(&key, &[("log", &[a.clone(), forged])], "log");
        assert_eq!(t.problems.len(), 1);
        assert_eq!(t.of(1).len(), 1);
        // Dropping a checkpoint from the middle breaks the numbering.
        let c = s.sign(
            1,
            3,
            (12, [9u8; 32]),
            "t3".into(),
            Reason::Periodic,
            b.digest(),
        );
        let t = check(&key, &[("log", &[a, c])], "log");
        assert_eq!(t.problems.len(), 1, "{:?}", t.problems);
    }

    #[test]
    fn another_key_is_refused() {
        let c = signer().sign(1, 1, (1, [1u8; 32]), "t".into(), Reason::Startup, [0u8; 32]);
        let other = Signer::from_hex(&"22".repeat(32)).unwrap();
        assert!(!c.signature_ok(&other.verifying_key()));
        assert!(c.signature_ok(&signer().verifying_key()));
    }
}
