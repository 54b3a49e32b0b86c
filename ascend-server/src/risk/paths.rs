//! Path normalisation: what a path really points at, whatever tricks it is written with.
//!
//! [`normalize`] lowercases, turns `\` into `/`, drops a `file://` scheme, decodes percent-encoded
//! `.`, `/`, `\` and `~`, writes `$HOME` / `${HOME}` as `~`, collapses `//` and `/./`, resolves
//! `..`, and strips the `/proc/<pid>/root` prefix (the same file system seen through a process).
//! A relative path whose `..` climb above its starting point is judged from `/`: where it lands
//! depends on the working directory, so the engine assumes the worst (`../../etc/shadow` is
//! `/etc/shadow`).

/// A normalised path and what normalising it revealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath {
    /// The normalised path (lowercase, `/`-separated).
    pub path: String,
    /// The written path climbed with `..` or used encoded separators: a traversal attempt or a
    /// disguise.
    pub traversal: bool,
}

fn percent_decode_path(s: &str) -> (String, bool) {
    if !s.contains('%') {
        return (s.to_owned(), false);
    }
    let mut out = String::with_capacity(s.len());
    let mut decoded = false;
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3).map(str::to_ascii_lowercase);
        let ch = match code.as_deref() {
            Some("2e") => Some('.'),
            Some("2f") => Some('/'),
            Some("5c") => Some('/'),
            Some("7e") => Some('~'),
            _ => None,
        };
        match ch {
            Some(c) => {
                out.push(c);
                decoded = true;
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    (out, decoded)
}

/// Normalise a path (see the module docs).
pub fn normalize(raw: &str) -> NormalPath {
    let t = raw.trim();
    let tricky = t.contains("/.")
        || t.starts_with('.')
        || t.contains("//")
        || t.contains(['%', '\\', '$'])
        || t.starts_with("/proc/")
        || (t.len() > 1 && t.ends_with('/'));
    let plain = !tricky;
    if plain {
        return NormalPath {
            path: t.to_ascii_lowercase(),
            traversal: false,
        };
    }
    let lower = raw.trim().to_ascii_lowercase().replace('\\', "/");
    let lower = lower.strip_prefix("file://").unwrap_or(&lower).to_owned();
    let (decoded, was_encoded) = percent_decode_path(&lower);
    let mut s = decoded;
    for home in ["${home}", "$home"] {
        if let Some(rest) = s.strip_prefix(home) {
            s = format!("~{rest}");
        }
    }
    let absolute = s.starts_with('/');
    let home = s == "~" || s.starts_with("~/");
    let mut parts: Vec<&str> = Vec::new();
    let mut climbed_out = false;
    let mut climbed = false;
    let body = if home { &s[1..] } else { &s[..] };
    for part in body.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                climbed = true;
                if parts.pop().is_none() {
                    climbed_out = true;
                }
            }
            p => parts.push(p),
        }
    }
    // `/proc/<pid>/root/...` is the root file system seen through a process.
    if parts.len() >= 3 && parts[0] == "proc" && parts[2] == "root" {
        parts.drain(..3);
    }
    let joined = parts.join("/");
    let path = if home {
        if joined.is_empty() {
            "~".to_owned()
        } else {
            format!("~/{joined}")
        }
    } else if absolute || climbed_out {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    };
    NormalPath {
        path,
        traversal: climbed_out || (climbed && absolute) || was_encoded,
    }
}

/// Directories whose recursive deletion or permission change wrecks a system or every user's
/// data (normalised form).
pub const CRITICAL_ROOTS: &[&str] = &[
    "/",
    "~",
    "/*",
    "~/*",
    "/home",
    "/users",
    "/usr",
    "/var",
    "/etc",
    "/boot",
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/opt",
    "/srv",
    "/root",
    "/var/lib",
    "/var/log",
    "/mnt",
    "/data",
    "c:",
    "c:/windows",
];

/// Whether a normalised path is one of [`CRITICAL_ROOTS`] (or a data directory right below
/// `/var/lib`, where databases keep their files).
pub fn is_critical_root(p: &str) -> bool {
    let p = p.trim_end_matches('/');
    let p = if p.is_empty() { "/" } else { p };
    CRITICAL_ROOTS.contains(&p)
        || p.strip_prefix("/var/lib/")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// Components of build output and caches: deleting them loses nothing that a rebuild does not
/// restore.
pub const REGENERABLE_DIRS: &[&str] = &[
    "target",
    "build",
    "dist",
    "out",
    "node_modules",
    "__pycache__",
    ".cache",
    ".pytest_cache",
    ".mypy_cache",
    ".next",
    "coverage",
    ".gradle",
    "tmp",
];

/// Whether a normalised path is scratch space or regenerable build output: under `/tmp` or
/// `/var/tmp`, or a relative path (inside the working directory) through one of
/// [`REGENERABLE_DIRS`].
pub fn is_regenerable(p: &NormalPath) -> bool {
    let path = p.path.as_str();
    if p.traversal {
        return false;
    }
    if path.starts_with("/tmp/") || path.starts_with("/var/tmp/") {
        return true;
    }
    let relative = !path.starts_with('/') && !path.starts_with('~');
    relative && path.split('/').any(|c| REGENERABLE_DIRS.contains(&c))
}

/// The host's account databases: readable by design, but an agent listing them is reconnaissance.
pub fn is_account_database(p: &str) -> bool {
    matches!(p, "/etc/passwd" | "/etc/group")
}

/// Whether a string looks like a file-system path (rather than a name or a sentence).
pub fn looks_like_path(s: &str) -> bool {
    !s.contains(' ')
        && !s.contains("://")
        && (s.starts_with('/')
            || s.starts_with('~')
            || s.starts_with("./")
            || s.starts_with("../")
            || s.starts_with('$')
            || s.contains('/')
            || s.contains('\\')
            || (s.starts_with('.') && s.len() > 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_is_resolved_and_flagged() {
        let n = normalize("../../etc/shadow");
        assert_eq!(n.path, "/etc/shadow");
        assert!(n.traversal);
        let n = normalize("/home/dev/project/../../../etc/shadow");
        assert_eq!(n.path, "/etc/shadow");
        assert!(n.traversal);
        let n = normalize("/tmp/x/%2e%2e/%2E%2e/etc/shadow");
        assert_eq!(n.path, "/etc/shadow");
        assert!(n.traversal);
    }

    #[test]
    fn home_and_tricks_are_normalised() {
        assert_eq!(normalize("~/.ssh/id_rsa").path, "~/.ssh/id_rsa");
        assert_eq!(normalize("$HOME/.ssh").path, "~/.ssh");
        assert_eq!(
            normalize("/home/dev/project//./.env").path,
            "/home/dev/project/.env"
        );
        assert_eq!(normalize("/proc/self/root/etc/shadow").path, "/etc/shadow");
        assert_eq!(normalize("file:///etc/passwd").path, "/etc/passwd");
        assert_eq!(
            normalize("C:\\Windows\\System32").path,
            "c:/windows/system32"
        );
        assert!(!normalize("src/lib.rs").traversal);
    }

    #[test]
    fn sensitive_paths_are_rated_after_normalising() {
        use crate::risk::features::rate_path;
        use crate::risk::tables::PathClass;
        assert_eq!(rate_path("../../etc/shadow").0, PathClass::Credentials);
        assert_eq!(rate_path("~/.ssh/id_rsa").0, PathClass::Credentials);
        assert_eq!(rate_path("/proc/self/environ").0, PathClass::Secrets);
        assert_eq!(rate_path("/app/.env.example").0, PathClass::None);
        assert_eq!(
            rate_path("/home/dev/project/src/etc/parser.rs").0,
            PathClass::None
        );
    }

    #[test]
    fn roots_and_scratch() {
        assert!(is_critical_root(&normalize("/").path));
        assert!(is_critical_root(&normalize("~").path));
        assert!(is_critical_root(&normalize("/var/lib/postgresql").path));
        assert!(!is_critical_root(&normalize("./target").path));
        assert!(is_regenerable(&normalize("./target")));
        assert!(is_regenerable(&normalize("build/")));
        assert!(is_regenerable(&normalize("/tmp/agent-scratch.txt")));
        assert!(!is_regenerable(&normalize("src")));
        assert!(!is_regenerable(&normalize("/srv/target")));
    }
}
