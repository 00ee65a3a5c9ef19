//! References to artifacts: `oci:<dir>[:<tag>|@<digest>]` for an OCI image layout directory and
//! `<host>[:<port>]/<repository>[:<tag>|@<digest>]` for a registry.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::oci::{Digest, DigestError};

const LAYOUT_PREFIX: &str = "oci:";
/// The tag a reference names when it names neither a tag nor a digest, as docker and oras do.
pub const DEFAULT_TAG: &str = "latest";
const MAX_TAG_LEN: usize = 128;
const MAX_REPOSITORY_LEN: usize = 255;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("empty reference: give `oci:DIR[:TAG]` or `HOST[:PORT]/REPOSITORY[:TAG]`")]
    Empty,
    #[error("`oci:` needs a directory, as in `oci:./models:v1`")]
    EmptyLayoutPath,
    #[error(
        "{0:?} has no registry host: write `HOST[:PORT]/REPOSITORY[:TAG]` (e.g. `registry.example.com/models/llama:1`), or `oci:DIR` for a local layout"
    )]
    MissingHost(String),
    #[error("invalid registry host {0:?}")]
    BadHost(String),
    #[error("invalid port in {0:?}: expected a number from 1 to 65535")]
    BadPort(String),
    #[error(
        "invalid repository {0:?}: use lowercase letters, digits and single `.`, `_`, `__` or `-` separators between `/`-separated parts"
    )]
    BadRepository(String),
    #[error(
        "invalid tag {0:?}: a tag is 1 to 128 characters from `A-Za-z0-9_.-` and must not start with `.` or `-`"
    )]
    BadTag(String),
    #[error("invalid digest in reference: {0}")]
    BadDigest(#[from] DigestError),
}

/// What within a repository a reference points at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Target {
    pub fn tag(tag: &str) -> Target {
        Target {
            tag: Some(tag.to_string()),
            digest: None,
        }
    }

    pub fn digest(digest: Digest) -> Target {
        Target {
            tag: None,
            digest: Some(digest),
        }
    }

    /// The tag to resolve when no digest pins the target.
    pub fn tag_or_default(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An OCI image layout directory.
    Layout(PathBuf),
    /// A repository in a registry.
    Registry { host: String, repository: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub location: Location,
    pub target: Target,
}

impl Reference {
    /// The same location, pinned to `digest` (tags are resolved once, then dropped).
    pub fn pinned(&self, digest: Digest) -> Reference {
        Reference {
            location: self.location.clone(),
            target: Target::digest(digest),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Location::Layout(path) => write!(f, "{LAYOUT_PREFIX}{}", path.display())?,
            Location::Registry { host, repository } => write!(f, "{host}/{repository}")?,
        }
        write!(f, "{}", self.target)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        match s.strip_prefix(LAYOUT_PREFIX) {
            Some(rest) => parse_layout(rest),
            None => parse_registry(s),
        }
    }
}

fn parse_layout(rest: &str) -> Result<Reference, ReferenceError> {
    let (path, target) = match rest.rsplit_once('@') {
        Some((path, digest)) => (path, Target::digest(digest.parse()?)),
        None => match rest.rsplit_once(':') {
            // A colon followed by a path separator stays part of the path.
            Some((path, tag)) if !tag.contains('/') => {
                if path.is_empty() {
                    return Err(ReferenceError::EmptyLayoutPath);
                }
                check_tag(tag)?;
                (path, Target::tag(tag))
            }
            _ => (rest, Target::default()),
        },
    };
    if path.is_empty() {
        return Err(ReferenceError::EmptyLayoutPath);
    }
    Ok(Reference {
        location: Location::Layout(PathBuf::from(path)),
        target,
    })
}

fn parse_registry(s: &str) -> Result<Reference, ReferenceError> {
    let (name, digest) = match s.rsplit_once('@') {
        Some((name, digest)) => (name, Some(digest.parse()?)),
        None => (s, None),
    };
    let (host, path) = name
        .split_once('/')
        .ok_or_else(|| ReferenceError::MissingHost(s.to_string()))?;
    if !looks_like_host(host) {
        return Err(ReferenceError::MissingHost(s.to_string()));
    }
    check_host(host)?;
    let (repository, tag) = match path.rsplit_once(':') {
        Some((repository, tag)) if !tag.contains('/') => {
            check_tag(tag)?;
            (repository, Some(tag.to_string()))
        }
        _ => (path, None),
    };
    check_repository(repository)?;
    Ok(Reference {
        location: Location::Registry {
            host: host.to_string(),
            repository: repository.to_string(),
        },
        target: Target { tag, digest },
    })
}

/// Docker's rule: the first part names a host when it has a dot or a port, or is `localhost`.
fn looks_like_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

fn check_host(host: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::BadHost(host.to_string());
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        // [IPv6]:port
        let (addr, after) = rest.split_once(']').ok_or_else(bad)?;
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err(bad());
        }
        match after {
            "" => (addr, None),
            _ => (addr, Some(after.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err(ReferenceError::BadPort(host.to_string())),
        }
    }
    if host.starts_with('[') {
        return Ok(());
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(())
}

fn check_repository(repository: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::BadRepository(repository.to_string());
    if repository.is_empty() || repository.len() > MAX_REPOSITORY_LEN {
        return Err(bad());
    }
    for component in repository.split('/') {
        if !repository_component_ok(component) {
            return Err(bad());
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*` from the distribution spec, without a regex engine.
fn repository_component_ok(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut rest = component;
    loop {
        let after_run = rest.trim_start_matches(alnum);
        if after_run.len() == rest.len() {
            return false;
        }
        if after_run.is_empty() {
            return true;
        }
        let after_separator = if let Some(r) = after_run.strip_prefix("__") {
            r
        } else if let Some(r) = after_run.strip_prefix(['.', '_']) {
            r
        } else {
            let r = after_run.trim_start_matches('-');
            if r.len() == after_run.len() {
                return false;
            }
            r
        };
        rest = after_separator;
    }
}

/// `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}` from the distribution spec.
pub fn check_tag(tag: &str) -> Result<(), ReferenceError> {
    let ok = !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::BadTag(tag.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

    fn round_trip(s: &str) -> Reference {
        let r: Reference = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.to_string(), s);
        r
    }

    #[test]
    fn layout_references() {
        let r = round_trip("oci:./models:v1");
        assert_eq!(r.location, Location::Layout("./models".into()));
        assert_eq!(r.target.tag.as_deref(), Some("v1"));
        let r = round_trip(&format!("oci:/var/lib/models@{D}"));
        assert_eq!(r.target.digest.unwrap().to_string(), D);
        let r = round_trip("oci:models");
        assert_eq!(r.target, Target::default());
        assert_eq!(r.target.tag_or_default(), "latest");
        // A colon whose tail holds a slash belongs to the path.
        let r = round_trip("oci:a:b/c");
        assert_eq!(r.location, Location::Layout("a:b/c".into()));
    }

    #[test]
    fn registry_references() {
        let r = round_trip("registry.example.com/models/llama:1.0");
        assert_eq!(
            r.location,
            Location::Registry {
                host: "registry.example.com".into(),
                repository: "models/llama".into()
            }
        );
        round_trip("127.0.0.1:5000/models/tiny");
        round_trip(&format!("localhost:5000/a/b@{D}"));
        round_trip(&format!("ghcr.io/org/model:v1@{D}"));
        round_trip("[::1]:5000/m:1");
        round_trip("reg.io/a__b/c-d--e/f.g:x");
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let err = |s: &str| s.parse::<Reference>().unwrap_err();
        assert_eq!(err(""), ReferenceError::Empty);
        assert_eq!(err("oci:"), ReferenceError::EmptyLayoutPath);
        assert_eq!(err("oci::v1"), ReferenceError::EmptyLayoutPath);
        assert!(matches!(err("oci:dir:bad tag"), ReferenceError::BadTag(_)));
        assert!(matches!(
            err("models/llama:1"),
            ReferenceError::MissingHost(_)
        ));
        assert!(matches!(err("llama"), ReferenceError::MissingHost(_)));
        assert!(matches!(
            err("reg.io/Models:1"),
            ReferenceError::BadRepository(_)
        ));
        assert!(matches!(
            err("reg.io/a//b"),
            ReferenceError::BadRepository(_)
        ));
        assert!(matches!(
            err("reg.io/a-:1"),
            ReferenceError::BadRepository(_)
        ));
        assert!(matches!(err("reg.io/a:-x"), ReferenceError::BadTag(_)));
        assert!(matches!(err("reg.io:0/a"), ReferenceError::BadPort(_)));
        assert!(matches!(err("reg.io:99999/a"), ReferenceError::BadPort(_)));
        assert!(matches!(err("reg.io:+80/a"), ReferenceError::BadPort(_)));
        assert!(matches!(err("bad_host.io/a"), ReferenceError::BadHost(_)));
        assert!(matches!(
            err("reg.io/a@sha256:xyz"),
            ReferenceError::BadDigest(_)
        ));
        assert!(matches!(
            err("oci:dir@md5:00"),
            ReferenceError::BadDigest(_)
        ));
        let long = format!("reg.io/a:{}", "t".repeat(129));
        assert!(matches!(err(&long), ReferenceError::BadTag(_)));
    }
}
