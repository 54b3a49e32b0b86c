//! The offline evidence package: what an external auditor verifies with no database and no
//! server, only the package and the signer's public key obtained out of band.
//!
//! A package is a directory of four files:
//! - `entries.jsonl`: the audit entries (one JSON object per line, streamed), per organisation in
//!   chain order;
//! - `checkpoints.jsonl`: every signed checkpoint of those organisations (the whole checkpoint
//!   chain, from number 1);
//! - `pubkey.txt`: the public key the exporter used (informational: the auditor checks with the
//!   key given to [`verify_dir`]);
//! - `manifest.json`: the format, the range of each organisation, and the SHA-256 and size of
//!   each other file.
//!
//! The manifest is not signed (the exporter need not hold the key): it catches a damaged copy.
//! What proves the entries is the checkpoints: every entry up to the last signed checkpoint in
//! the range is covered by a signature through the hash chain; entries after it are reported as
//! not covered.

use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checkpoint::{self, Checkpoint};
use super::verify::{ChainVerifier, Finding, Problem, VerifyReport};
use crate::error::{Error, Result};
use crate::model::AuditEntry;

/// The package format this module writes and reads.
pub const FORMAT: &str = "ascend-audit-evidence-v1";
const FILES: [&str; 3] = ["entries.jsonl", "checkpoints.jsonl", "pubkey.txt"];

/// Which entries to export.
#[derive(Debug, Clone, Default)]
pub struct ExportRange {
    /// Only this organisation.
    pub org: Option<i64>,
    /// First sequence number (default 1).
    pub from: Option<i64>,
    /// Last sequence number (default: the end of the chain).
    pub to: Option<i64>,
}

/// One organisation's part of a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRange {
    /// Organisation.
    pub org_id: i64,
    /// First sequence number exported.
    pub from: i64,
    /// Last sequence number exported (from - 1 when none).
    pub to: i64,
    /// Entries exported.
    pub entries: u64,
}

/// A file's digest in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Hex SHA-256.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// When it was written.
    pub created_at: String,
    /// Entries in the package.
    pub entries: u64,
    /// Checkpoints in the package.
    pub checkpoints: u64,
    /// Per organisation.
    pub orgs: Vec<OrgRange>,
    /// Digest of each file.
    pub files: BTreeMap<String, FileDigest>,
}

/// Writes a package: feed it entries in chain order per organisation, then [`finish`].
///
/// [`finish`]: EvidenceWriter::finish
pub struct EvidenceWriter {
    dir: std::path::PathBuf,
    entries: BufWriter<std::fs::File>,
    orgs: BTreeMap<i64, OrgRange>,
    count: u64,
}

impl std::fmt::Debug for EvidenceWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceWriter")
            .field("dir", &self.dir)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl EvidenceWriter {
    /// Start a package in `dir` (created; existing package files are replaced).
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let entries = BufWriter::new(std::fs::File::create(dir.join(FILES[0]))?);
        Ok(Self {
            dir: dir.to_owned(),
            entries,
            orgs: BTreeMap::new(),
            count: 0,
        })
    }

    /// Declare an organisation's range (so one with no entries in it still appears).
    pub fn org(&mut self, org_id: i64, from: i64) {
        self.orgs.entry(org_id).or_insert(OrgRange {
            org_id,
            from,
            to: from - 1,
            entries: 0,
        });
    }

    /// Add one entry.
    pub fn entry(&mut self, e: &AuditEntry) -> Result<()> {
        serde_json::to_writer(&mut self.entries, e)?;
        self.entries.write_all(b"\n")?;
        let r = self.orgs.entry(e.org_id).or_insert(OrgRange {
            org_id: e.org_id,
            from: e.seq,
            to: e.seq - 1,
            entries: 0,
        });
        r.to = e.seq;
        r.entries += 1;
        self.count += 1;
        Ok(())
    }

    /// Write the checkpoints, the public key and the manifest.
    pub fn finish(mut self, checkpoints: &[Checkpoint], key: &VerifyingKey) -> Result<Manifest> {
        self.entries.flush()?;
        drop(self.entries);
        let mut cp = BufWriter::new(std::fs::File::create(self.dir.join(FILES[1]))?);
        for c in checkpoints {
            cp.write_all(c.to_line().as_bytes())?;
            cp.write_all(b"\n")?;
        }
        cp.flush()?;
        drop(cp);
        std::fs::write(
            self.dir.join(FILES[2]),
            format!("{}\n", hex::encode(key.to_bytes())),
        )?;
        let mut files = BTreeMap::new();
        for f in FILES {
            files.insert(f.to_owned(), digest_file(&self.dir.join(f))?);
        }
        let m = Manifest {
            format: FORMAT.to_owned(),
            created_at: crate::model::now().to_rfc3339(),
            entries: self.count,
            checkpoints: checkpoints.len() as u64,
            orgs: self.orgs.into_values().collect(),
            files,
        };
        std::fs::write(
            self.dir.join("manifest.json"),
            serde_json::to_vec_pretty(&m)?,
        )?;
        Ok(m)
    }
}

fn digest_file(path: &Path) -> Result<FileDigest> {
    let mut f = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut h = Sha256::new();
    let mut bytes = 0u64;
    loop {
        let buf = f.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        h.update(buf);
        let n = buf.len();
        bytes += n as u64;
        f.consume(n);
    }
    Ok(FileDigest {
        sha256: hex::encode(h.finalize()),
        bytes,
    })
}

fn finding(seq: i64, problem: Problem, detail: String) -> Finding {
    Finding {
        seq,
        problem,
        detail,
    }
}

/// Verify a package with the signer's public key: the manifest's digests, the checkpoints'
/// signatures and chains, and each organisation's entries (links, hashes, and every signed
/// checkpoint inside the exported range). One report per organisation, plus one for
/// organisation 0 when the package itself is damaged.
pub fn verify_dir(dir: &Path, key: &VerifyingKey) -> Result<Vec<VerifyReport>> {
    let text = std::fs::read_to_string(dir.join("manifest.json"))
        .map_err(|e| Error::Config(format!("no manifest.json in {}: {e}", dir.display())))?;
    let m: Manifest = serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("manifest.json is not a manifest: {e}")))?;
    let mut package = Vec::new();
    if m.format != FORMAT {
        package.push(finding(
            0,
            Problem::Checkpoint,
            format!("unknown package format {:?}", m.format),
        ));
    }
    for f in FILES {
        let want = m.files.get(f);
        let have = digest_file(&dir.join(f)).ok();
        if want.is_none() || want != have.as_ref() {
            package.push(finding(
                0,
                Problem::Edited,
                format!("{f} does not match the manifest's digest"),
            ));
        }
    }
    if let Ok(k) = std::fs::read_to_string(dir.join(FILES[2]))
        && k.trim() != hex::encode(key.to_bytes())
    {
        package.push(finding(
            0,
            Problem::Checkpoint,
            "the package names another public key than the one given".into(),
        ));
    }
    let (cps, bad) = checkpoint::read_log(&dir.join(FILES[1]))?;
    for b in bad {
        package.push(finding(
            0,
            Problem::Checkpoint,
            format!("line {} of checkpoints.jsonl: {}", b.line, b.error),
        ));
    }
    let trusted = checkpoint::check(key, &[("package", &cps)], "package");
    let mut reports = Vec::new();
    let mut walkers: BTreeMap<i64, (ChainVerifier, Option<VerifyReport>)> = BTreeMap::new();
    for r in &m.orgs {
        let signed: Vec<_> = trusted
            .of(r.org_id)
            .iter()
            .filter(|s| s.seq >= r.from && s.seq <= r.to)
            .copied()
            .collect();
        walkers.insert(
            r.org_id,
            (
                ChainVerifier::for_range(r.org_id, r.from).with_signed(&signed),
                None,
            ),
        );
    }
    let file = std::fs::File::open(dir.join(FILES[0]))?;
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        let e: AuditEntry = match serde_json::from_slice(&line) {
            Ok(e) => e,
            Err(err) => {
                package.push(finding(
                    0,
                    Problem::Edited,
                    format!("line {} of entries.jsonl is not an entry: {err}", i + 1),
                ));
                continue;
            }
        };
        let Some((w, broken)) = walkers.get_mut(&e.org_id) else {
            package.push(finding(
                0,
                Problem::Edited,
                format!(
                    "entries.jsonl holds org {}, absent from the manifest",
                    e.org_id
                ),
            ));
            continue;
        };
        if broken.is_none() {
            *broken = w.push(&e, |_| false);
        }
    }
    for (org, (w, broken)) in walkers {
        let mut r = broken.unwrap_or_else(|| w.finish());
        r.add(
            trusted
                .problems
                .iter()
                .filter(|p| p.org_id == org)
                .map(|p| finding(p.seq, Problem::Checkpoint, p.detail.clone())),
        );
        reports.push(r);
    }
    if !package.is_empty() {
        let mut r = VerifyReport::empty(0);
        r.add(package);
        reports.insert(0, r);
    }
    Ok(reports)
}
