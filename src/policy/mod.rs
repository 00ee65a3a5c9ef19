//! Admission policy: a file of policies, each covering some references (scopes), naming its
//! trust anchors (authorities), and requiring signatures by enough distinct authorities,
//! attestations of given types (signed by allowed authorities, young enough, passing Rego
//! rules), and ModelPack hygiene. Loading checks everything and reports every problem at once
//! (`policy lint`); evaluating gives a decision that names the evidence for, or the reason
//! against, each requirement.

pub mod evaluate;
pub mod model;
pub mod rules;
pub mod scope;

use std::path::{Path, PathBuf};

use crate::files::read_limited;
use crate::keys::PublicKey;
use crate::sigstore::{Identity, KeylessVerifier, Matcher, TrustRoot};
use crate::verify::KeyAuthority;
use model::{Mode, NoMatch, PolicyFile, PolicySpec};

/// The largest policy file read.
pub const MAX_POLICY_BYTES: u64 = 1 << 20;
/// The largest Rego or data file read.
pub const MAX_RULE_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} has problems:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

/// A named trust anchor: a key, or a keyless identity under a trusted root.
#[derive(Clone, Debug)]
pub struct Authority {
    pub name: String,
    pub verifier: crate::verify::Authority,
}

impl Authority {
    /// What makes two authorities the same signer: the key, or the identity.
    fn signer_id(&self) -> Option<(&'static str, String)> {
        match &self.verifier {
            crate::verify::Authority::Key(authority) => authority
                .key
                .to_spki_der()
                .ok()
                .map(|der| ("key", hex::encode(der))),
            crate::verify::Authority::Keyless(v) => Some(("identity", v.identity().describe())),
        }
    }
}

/// How many distinct authorities must have signed, among which.
#[derive(Clone, Debug)]
pub struct Threshold {
    pub threshold: usize,
    /// Indexes into the policy's authorities.
    pub authorities: Vec<usize>,
}

/// A required attestation.
#[derive(Clone, Debug)]
pub struct AttestationRequirement {
    pub predicate_type: String,
    pub authorities: Vec<usize>,
    pub max_age_seconds: Option<i64>,
    pub rules: Option<rules::Rules>,
}

/// Rules on the ModelPack itself.
#[derive(Clone, Debug, Default)]
pub struct ModelPackRules {
    pub families: Option<Vec<String>>,
    pub weight_formats: Option<Vec<String>>,
    pub media_types: Option<Vec<glob::Pattern>>,
    pub max_size: Option<u64>,
    pub allow_untested: bool,
    pub licenses: Option<Vec<String>>,
}

/// One policy, checked and ready to evaluate.
#[derive(Clone, Debug)]
pub struct Policy {
    pub name: String,
    pub scopes: Vec<scope::Scope>,
    pub mode: Mode,
    pub authorities: Vec<Authority>,
    pub signatures: Option<Threshold>,
    pub attestations: Vec<AttestationRequirement>,
    pub modelpack: Option<ModelPackRules>,
}

/// A policy file, checked.
#[derive(Clone, Debug)]
pub struct PolicySet {
    pub no_match: NoMatch,
    pub policies: Vec<Policy>,
}

impl PolicySet {
    /// Loads and checks a policy file; every problem found is reported together.
    pub fn load(path: &Path) -> Result<PolicySet, PolicyError> {
        let bytes = read_limited(path, MAX_POLICY_BYTES).map_err(|reason| PolicyError::Read {
            path: path.to_path_buf(),
            reason,
        })?;
        let invalid = |problems: Vec<String>| PolicyError::Invalid {
            path: path.to_path_buf(),
            problems,
        };
        let text =
            std::str::from_utf8(&bytes).map_err(|e| invalid(vec![format!("not UTF-8: {e}")]))?;
        let file: PolicyFile =
            serde_saphyr::from_str(text).map_err(|e| invalid(vec![e.to_string()]))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut problems = Vec::new();
        if file.version != model::VERSION {
            problems.push(format!(
                "version {} is not one modelseal reads (it reads {})",
                file.version,
                model::VERSION
            ));
        }
        if file.policies.is_empty() {
            problems.push("there are no policies".into());
        }
        let mut policies = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for spec in &file.policies {
            if !names.insert(spec.name.clone()) {
                problems.push(format!("policy name {:?} is used twice", spec.name));
            }
            if let Some(policy) = check_policy(spec, base, &mut problems) {
                policies.push(policy);
            }
        }
        if problems.is_empty() {
            Ok(PolicySet {
                no_match: file.no_match,
                policies,
            })
        } else {
            Err(invalid(problems))
        }
    }
}

/// Checks one policy, adding what is wrong to `problems`.
fn check_policy(spec: &PolicySpec, base: &Path, problems: &mut Vec<String>) -> Option<Policy> {
    let at = |what: String| format!("policy {:?}: {what}", spec.name);
    let before = problems.len();
    if spec.scopes.is_empty() {
        problems.push(at("it has no scopes".into()));
    }
    let scopes: Vec<scope::Scope> = spec
        .scopes
        .iter()
        .filter_map(|s| scope::Scope::new(s).map_err(|e| problems.push(at(e))).ok())
        .collect();
    let mut authorities = Vec::new();
    for authority in &spec.authorities {
        if authorities
            .iter()
            .any(|a: &Authority| a.name == authority.name)
        {
            problems.push(at(format!(
                "authority name {:?} is used twice",
                authority.name
            )));
            continue;
        }
        match load_authority(authority, base) {
            Ok(a) => authorities.push(a),
            Err(e) => problems.push(at(format!("authority {:?}: {e}", authority.name))),
        }
    }
    // One key under two names would count twice toward a threshold.
    let ids: Vec<_> = authorities.iter().map(Authority::signer_id).collect();
    for (i, (a, id)) in authorities.iter().zip(&ids).enumerate() {
        let Some((kind, _)) = id else { continue };
        let same = authorities
            .iter()
            .zip(&ids)
            .skip(i.saturating_add(1))
            .find(|(_, other)| *other == id);
        if let Some((b, _)) = same {
            problems.push(at(format!(
                "authorities {:?} and {:?} are the same {kind}",
                a.name, b.name
            )));
        }
    }
    let mut indexes = |names: &Option<Vec<String>>, what: &str| -> Vec<usize> {
        match names {
            None => (0..authorities.len()).collect(),
            Some(names) => {
                let mut found = Vec::new();
                for n in names {
                    match authorities.iter().position(|a| &a.name == n) {
                        Some(index) if found.contains(&index) => {
                            problems.push(at(format!("{what} names authority {n:?} twice")));
                        }
                        Some(index) => found.push(index),
                        None if spec.authorities.iter().all(|a| &a.name != n) => {
                            problems.push(at(format!(
                                "{what} names authority {n:?}, which is not defined"
                            )));
                        }
                        None => {}
                    }
                }
                found
            }
        }
    };
    let signatures = spec.signatures.as_ref().map(|s| {
        let listed = indexes(&s.authorities, "signatures");
        Threshold {
            threshold: s.threshold,
            authorities: listed,
        }
    });
    let mut attestations = Vec::new();
    for requirement in &spec.attestations {
        let allowed = indexes(&requirement.authorities, "an attestation");
        attestations.push((requirement, allowed));
    }
    if let (Some(s), Some(spec_s)) = (&signatures, &spec.signatures) {
        let listed = spec_s
            .authorities
            .as_ref()
            .map_or(spec.authorities.len(), Vec::len);
        if s.threshold == 0 {
            problems.push(at("the signature threshold is 0; require at least 1".into()));
        } else if s.threshold > listed {
            problems.push(at(format!(
                "the signature threshold is {}, but only {listed} authorities could sign",
                s.threshold
            )));
        }
    }
    let attestations: Vec<AttestationRequirement> = attestations
        .into_iter()
        .filter_map(|(requirement, allowed)| {
            check_attestation(requirement, allowed, base)
                .map_err(|e| problems.extend(e.into_iter().map(&at)))
                .ok()
        })
        .collect();
    let modelpack = spec.modelpack.as_ref().and_then(|m| {
        check_modelpack(m)
            .map_err(|e| problems.extend(e.into_iter().map(&at)))
            .ok()
    });
    if spec.signatures.is_none() && spec.attestations.is_empty() && spec.modelpack.is_none() {
        problems.push(at(
            "it requires nothing (no signatures, attestations or modelpack rules), so it would admit everything"
                .into(),
        ));
    }
    if problems.len() > before {
        return None;
    }
    Some(Policy {
        name: spec.name.clone(),
        scopes,
        mode: spec.mode,
        authorities,
        signatures,
        attestations,
        modelpack,
    })
}

fn load_authority(spec: &model::AuthoritySpec, base: &Path) -> Result<Authority, String> {
    if let Some(keyless) = &spec.keyless {
        if spec.key.is_some() {
            return Err("an authority is a key or a keyless identity, not both".into());
        }
        return Ok(Authority {
            name: spec.name.clone(),
            verifier: crate::verify::Authority::Keyless(std::sync::Arc::new(load_keyless(
                keyless, base,
            )?)),
        });
    }
    let key_spec = spec
        .key
        .as_ref()
        .ok_or("it names neither a key nor a keyless identity")?;
    let pem = match (&key_spec.path, &key_spec.pem) {
        (Some(path), None) => {
            read_limited(&base.join(path), crate::keys::MAX_KEY_FILE_BYTES as u64)
                .map_err(|e| format!("cannot read the key {path}: {e}"))?
        }
        (None, Some(pem)) => pem.as_bytes().to_vec(),
        _ => return Err("a key has exactly one of path and pem".into()),
    };
    let key = PublicKey::from_pem(&pem).map_err(|e| format!("the key does not parse: {e}"))?;
    let root = policy_root(key_spec.trusted_root.as_deref(), base);
    Ok(Authority {
        name: spec.name.clone(),
        verifier: crate::verify::Authority::Key(Box::new(
            KeyAuthority::new(key, &root)?.require_log(key_spec.require_log),
        )),
    })
}

/// A keyless identity: the issuer exactly, the subject exactly or by an anchored regexp, the
/// GitHub workflow claims named in `extensions`, under the production root or `trustedRoot`.
fn load_keyless(spec: &model::KeylessSpec, base: &Path) -> Result<KeylessVerifier, String> {
    let subject = Matcher::from_flags(
        spec.subject.as_deref(),
        spec.subject_reg_exp.as_deref(),
        "a keyless identity needs subject or subjectRegExp",
    )?;
    if spec.subject.is_some() && spec.subject_reg_exp.is_some() {
        return Err("give subject or subjectRegExp, not both".into());
    }
    let mut identity = Identity::new(subject, Matcher::Exact(spec.issuer.clone()));
    for (name, value) in spec.extensions.iter().flatten() {
        let slot = match name.as_str() {
            "githubWorkflowTrigger" => &mut identity.workflow.trigger,
            "githubWorkflowSha" => &mut identity.workflow.sha,
            "githubWorkflowName" => &mut identity.workflow.name,
            "githubWorkflowRepository" => &mut identity.workflow.repository,
            "githubWorkflowRef" => &mut identity.workflow.git_ref,
            other => {
                return Err(format!(
                    "unknown extension {other:?}; known: githubWorkflowTrigger, githubWorkflowSha, githubWorkflowName, githubWorkflowRepository, githubWorkflowRef"
                ));
            }
        };
        *slot = Some(value.clone());
    }
    KeylessVerifier::new(&policy_root(spec.trusted_root.as_deref(), base), identity)
}

/// A policy's `trustedRoot` (relative to the policy file), else the production root.
fn policy_root(trusted_root: Option<&str>, base: &Path) -> TrustRoot {
    match trusted_root {
        Some(path) => TrustRoot::File(base.join(path)),
        None => TrustRoot::Production,
    }
}

fn check_attestation(
    spec: &model::AttestationSpec,
    authorities: Vec<usize>,
    base: &Path,
) -> Result<AttestationRequirement, Vec<String>> {
    let mut problems = Vec::new();
    let predicate_type = crate::attest::predicate::resolve_type(&spec.predicate_type)
        .map_err(|e| problems.push(format!("attestation type: {e}")))
        .unwrap_or_default();
    let max_age_seconds = spec.max_age.as_deref().and_then(|age| {
        parse_age(age)
            .map_err(|e| problems.push(format!("attestation {}: {e}", spec.predicate_type)))
            .ok()
    });
    let rules = if spec.rules.is_empty() {
        None
    } else {
        rules::Rules::load(base, &spec.rules, &spec.data)
            .map_err(|e| problems.extend(e))
            .ok()
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(AttestationRequirement {
        predicate_type,
        authorities,
        max_age_seconds,
        rules,
    })
}

fn check_modelpack(spec: &model::ModelPackSpec) -> Result<ModelPackRules, Vec<String>> {
    let mut problems = Vec::new();
    if let Some(families) = &spec.families {
        for family in families {
            if !["cncf", "cnai-legacy", "kitops"].contains(&family.as_str()) {
                problems.push(format!(
                    "modelpack family {family:?} is not one of cncf, cnai-legacy, kitops"
                ));
            }
        }
    }
    let media_types = spec.media_types.as_ref().map(|globs| {
        globs
            .iter()
            .filter_map(|g| {
                glob::Pattern::new(g)
                    .map_err(|e| problems.push(format!("media type glob {g:?}: {e}")))
                    .ok()
            })
            .collect()
    });
    let max_size = spec.max_size.as_deref().and_then(|s| {
        parse_size(s)
            .map_err(|e| problems.push(format!("maxSize: {e}")))
            .ok()
    });
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ModelPackRules {
        families: spec.families.clone(),
        weight_formats: spec.weight_formats.clone(),
        media_types,
        max_size,
        allow_untested: spec.allow_untested,
        licenses: spec.licenses.clone(),
    })
}

/// `7d`, `12h`, `30m`, `45s` as seconds.
pub fn parse_age(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not an age such as 7d, 12h, 30m or 45s");
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at_checked(split).ok_or_else(bad)?;
    let number: i64 = number.parse().map_err(|_| bad())?;
    let unit = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    if number < 0 {
        return Err(bad());
    }
    number.checked_mul(unit).ok_or_else(bad)
}

/// `100GiB`, `500MB`, `1024` as bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not a size such as 100GiB, 500MB or 1024");
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let (number, unit) = text.split_at_checked(digits).ok_or_else(bad)?;
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return Err(bad()),
    };
    number.checked_mul(unit).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_sizes() {
        assert_eq!(parse_age("7d").unwrap(), 7 * 86_400);
        assert_eq!(parse_age("30m").unwrap(), 1800);
        for bad in ["", "d", "7", "7w", "-1d", "99999999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_size("100GiB").unwrap(), 100 << 30);
        assert_eq!(parse_size("1024").unwrap(), 1024);
        for bad in ["", "GiB", "1 PB", "99999999999999999999TiB"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
