//! Evaluating a policy for one reference: find the policy whose scope matches best, resolve
//! the reference once, gather the evidence (signatures and attestations verified with the
//! policy's authorities, the ModelPack itself), check each requirement, and decide. The
//! decision lists every requirement with its evidence or its reasons; given the same inputs
//! and evaluation time it is the same, byte for byte.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::model::{Mode, NoMatch};
use super::rules::RuleFailure;
use super::{AttestationRequirement, ModelPackRules, Policy, PolicySet, Threshold};
use crate::attest::statement::Statement;
use crate::attest::verify::verify_attestations;
use crate::modelpack::ModelPack;
use crate::oci::{Descriptor, Store, StoreError};
use crate::reference::Reference;
use crate::verify::{Expectations, VerifyError, verify_signatures};

/// One requirement of the policy and how it fared.
#[derive(Clone, Debug, Serialize)]
pub struct Requirement {
    pub requirement: String,
    pub passed: bool,
    /// What satisfied it: authorities, digests, predicate types, times.
    pub evidence: Vec<Value>,
    /// Why it failed (or what it noticed).
    pub reasons: Vec<String>,
}

/// The admission decision.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub reference: String,
    pub digest: Option<String>,
    pub policy: Option<String>,
    pub mode: Option<Mode>,
    /// `admit` or `reject`.
    pub decision: &'static str,
    pub evaluated_at: String,
    pub requirements: Vec<Requirement>,
    /// Failed requirements a `warn` policy admitted anyway, and the rules' `warn` messages.
    pub warnings: Vec<String>,
}

impl Decision {
    pub fn admitted(&self) -> bool {
        self.decision == "admit"
    }

    /// The names of the requirements not met.
    pub fn failed(&self) -> Vec<&str> {
        self.requirements
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.requirement.as_str())
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Verify(#[from] VerifyError),
    #[error("{0}")]
    Ambiguous(String),
    #[error("{0}")]
    RuleLimit(String),
}

/// The policy that covers `reference`: the most specific matching scope wins; a tie between
/// policies is an error.
pub fn policy_for<'a>(
    set: &'a PolicySet,
    reference: &Reference,
) -> Result<Option<&'a Policy>, EvaluateError> {
    let subject = super::scope::subject_of(reference);
    let mut best: Option<(usize, &Policy)> = None;
    let mut tied: Option<&Policy> = None;
    for policy in &set.policies {
        let Some(specificity) = policy
            .scopes
            .iter()
            .filter(|s| s.matches(&subject))
            .map(super::scope::Scope::specificity)
            .max()
        else {
            continue;
        };
        match best {
            Some((b, _)) if specificity < b => {}
            Some((b, _)) if specificity == b => tied = Some(policy),
            _ => {
                best = Some((specificity, policy));
                tied = None;
            }
        }
    }
    if let (Some((_, a)), Some(b)) = (best, tied) {
        return Err(EvaluateError::Ambiguous(format!(
            "policies {:?} and {:?} cover {subject} equally; make one scope more specific",
            a.name, b.name
        )));
    }
    Ok(best.map(|(_, p)| p))
}

/// Evaluates `set` for `reference` in `store` at time `at`.
pub fn evaluate(
    set: &PolicySet,
    reference: &Reference,
    store: &dyn Store,
    at: jiff::Timestamp,
) -> Result<Decision, EvaluateError> {
    let evaluated_at = at.to_string();
    let Some(policy) = policy_for(set, reference)? else {
        let admit = set.no_match == NoMatch::Admit;
        return Ok(Decision {
            reference: reference.to_string(),
            digest: None,
            policy: None,
            mode: None,
            decision: if admit { "admit" } else { "reject" },
            evaluated_at,
            requirements: vec![Requirement {
                requirement: "scope".into(),
                passed: admit,
                evidence: Vec::new(),
                reasons: vec![format!(
                    "no policy covers {} (noMatch: {})",
                    super::scope::subject_of(reference),
                    if admit { "admit" } else { "reject" }
                )],
            }],
            warnings: Vec::new(),
        });
    };
    let subject = store.resolve(&reference.target)?;
    let pack = crate::modelpack::read(store, &subject);
    let mut requirements = Vec::new();
    let mut warnings = Vec::new();
    if let Some(threshold) = &policy.signatures {
        requirements.push(signatures(store, &subject, policy, threshold)?);
    }
    for requirement in &policy.attestations {
        let (checked, warned) = attestations(
            store,
            &subject,
            reference,
            policy,
            requirement,
            pack.as_ref().ok(),
            &evaluated_at,
            at,
        )?;
        requirements.push(checked);
        warnings.extend(warned);
    }
    if let Some(rules) = &policy.modelpack {
        requirements.push(match &pack {
            Ok(pack) => modelpack(pack, rules),
            Err(e) => Requirement {
                requirement: "modelpack".into(),
                passed: false,
                evidence: Vec::new(),
                reasons: vec![format!("it is not a valid ModelPack: {e}")],
            },
        });
    }
    let failed: Vec<&Requirement> = requirements.iter().filter(|r| !r.passed).collect();
    let admit = match policy.mode {
        Mode::Enforce => failed.is_empty(),
        Mode::Warn | Mode::Audit => true,
    };
    if policy.mode == Mode::Warn {
        for requirement in &failed {
            warnings.push(format!(
                "{} failed: {}",
                requirement.requirement,
                requirement.reasons.join("; ")
            ));
        }
    }
    Ok(Decision {
        reference: reference.to_string(),
        digest: Some(subject.digest.to_string()),
        policy: Some(policy.name.clone()),
        mode: Some(policy.mode),
        decision: if admit { "admit" } else { "reject" },
        evaluated_at,
        requirements,
        warnings,
    })
}

fn signatures(
    store: &dyn Store,
    subject: &Descriptor,
    policy: &Policy,
    threshold: &Threshold,
) -> Result<Requirement, EvaluateError> {
    let none = BTreeMap::new();
    let mut evidence = Vec::new();
    let mut missing = Vec::new();
    let mut rejected = Rejections::default();
    for index in &threshold.authorities {
        let Some(authority) = policy.authorities.get(*index) else {
            continue;
        };
        let verification = verify_signatures(
            store,
            subject,
            &Expectations {
                authority: &authority.verifier,
                annotations: &none,
            },
        )?;
        // Sorted: a registry may list referrers in any order.
        let mut verified: Vec<String> = verification
            .signatures
            .iter()
            .filter(|s| s.outcome.is_ok())
            .map(|s| s.source.digest.to_string())
            .collect();
        verified.sort();
        verified.dedup();
        if verified.is_empty() {
            missing.push(authority.name.clone());
            for s in &verification.signatures {
                if let Err(reason) = &s.outcome {
                    rejected.add(&s.source.digest.to_string(), &authority.name, reason);
                }
            }
        } else {
            evidence.push(json!({"authority": authority.name, "signatures": verified}));
        }
    }
    // Each authority counts once, however many signatures it made.
    let signed = evidence.len();
    let passed = signed >= threshold.threshold;
    let mut reasons = vec![format!(
        "{signed} of the {} required distinct authorities signed {}",
        threshold.threshold, subject.digest
    )];
    if !missing.is_empty() {
        reasons.push(format!("no verified signature by: {}", missing.join(", ")));
    }
    if !passed {
        reasons.extend(rejected.into_reasons());
    }
    Ok(Requirement {
        requirement: "signatures".into(),
        passed,
        evidence,
        reasons,
    })
}

/// Why signatures or attestations were rejected, for the report of a requirement they did not
/// meet: the first few, and how many more, so that a thousand junk referrers do not bury it.
#[derive(Default)]
struct Rejections {
    shown: Vec<String>,
    more: usize,
}

impl Rejections {
    const SHOWN: usize = 10;

    fn add(&mut self, source: &str, authority: &str, reason: &str) {
        if self.shown.len() < Self::SHOWN {
            self.shown
                .push(format!("{source} rejected for {authority}: {reason}"));
        } else {
            self.more = self.more.saturating_add(1);
        }
    }

    fn into_reasons(mut self) -> Vec<String> {
        if self.more > 0 {
            self.shown.push(format!("and {} more rejected", self.more));
        }
        self.shown
    }
}

/// The time an attestation's signed content says it was made: the one field its predicate
/// type defines for it. `Err` when the type defines none or the field is not a time.
fn signed_time(statement: &Statement) -> Result<jiff::Timestamp, String> {
    let field = match statement.predicate_type.as_str() {
        crate::attest::slsa::PROVENANCE_V1 => "/runDetails/metadata/finishedOn",
        crate::attest::slsa::PROVENANCE_V02 => "/metadata/buildFinishedOn",
        crate::scan::SCAN_PREDICATE_TYPE
        | "https://cosign.sigstore.dev/attestation/vuln/v1"
        | "https://in-toto.io/attestation/vulns/v0.2" => "/metadata/scanFinishedOn",
        crate::attest::predicate::CUSTOM => "/Timestamp",
        "https://openvex.dev/ns" => "/timestamp",
        other => return Err(format!("{other} predicates sign no time modelseal knows")),
    };
    let text = statement
        .predicate
        .pointer(field)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("it signs no {field}"))?;
    text.parse()
        .map_err(|e| format!("its {field} {text:?} is not a time: {e}"))
}

/// How far in the future a signed time may be (clock skew) and still count.
const CLOCK_SKEW_SECONDS: i64 = 300;

/// A verified attestation from an allowed authority.
struct Candidate<'a> {
    authority: &'a str,
    source: String,
    statement: Statement,
    time: Result<jiff::Timestamp, String>,
    /// When a transparency log recorded it, if it was logged.
    logged: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn attestations(
    store: &dyn Store,
    subject: &Descriptor,
    reference: &Reference,
    policy: &Policy,
    requirement: &AttestationRequirement,
    pack: Option<&ModelPack>,
    evaluated_at: &str,
    at: jiff::Timestamp,
) -> Result<(Requirement, Vec<String>), EvaluateError> {
    let mut candidates = Vec::new();
    let mut rejected = Rejections::default();
    for index in &requirement.authorities {
        let Some(authority) = policy.authorities.get(*index) else {
            continue;
        };
        let checked = verify_attestations(
            store,
            subject,
            &authority.verifier,
            &requirement.predicate_type,
        )?;
        for attestation in checked {
            let source = attestation.source.digest.to_string();
            match attestation.outcome {
                Ok(statement) => candidates.push(Candidate {
                    authority: &authority.name,
                    source,
                    time: signed_time(&statement),
                    statement,
                    logged: attestation.logged,
                }),
                Err(reason) => rejected.add(&source, &authority.name, &reason),
            }
        }
    }
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    if candidates.is_empty() {
        reasons.push(format!(
            "no {} attestation verifies with the allowed authorities",
            requirement.predicate_type
        ));
        reasons.extend(rejected.into_reasons());
    }
    // The newest attestations decide, and all of them must pass (a clean scan of last week
    // does not outweigh today's flagged one); where no time is signed, any that passes will do.
    candidates.sort_by(|a, b| {
        let key = |c: &Candidate<'_>| c.time.as_ref().ok().copied();
        key(b).cmp(&key(a)).then_with(|| a.source.cmp(&b.source))
    });
    let newest = candidates
        .first()
        .and_then(|c| c.time.as_ref().ok().copied());
    let judged = match newest {
        Some(newest) => candidates
            .iter()
            .take_while(|c| c.time.as_ref().ok() == Some(&newest))
            .count(),
        None if requirement.max_age_seconds.is_some() => candidates.len().min(1),
        None => candidates.len(),
    };
    let all_must_pass = newest.is_some();
    let mut evidence = Vec::new();
    let mut denied = false;
    for candidate in candidates.iter().take(judged) {
        match judge(
            candidate,
            requirement,
            reference,
            subject,
            pack,
            evaluated_at,
            at,
        )? {
            Ok(warned) => {
                warnings.extend(warned);
                evidence.push(json!({
                    "authority": candidate.authority,
                    "attestation": candidate.source,
                    "predicateType": candidate.statement.predicate_type,
                    "time": candidate.time.as_ref().ok().map(ToString::to_string),
                    "logged": candidate.logged,
                }));
            }
            Err(reason) => {
                denied = true;
                reasons.push(format!(
                    "{} (by {}): {reason}",
                    candidate.source, candidate.authority
                ));
            }
        }
    }
    reasons.sort();
    warnings.sort();
    Ok((
        Requirement {
            requirement: format!("attestation {}", requirement.predicate_type),
            passed: !(evidence.is_empty() || all_must_pass && denied),
            evidence,
            reasons,
        },
        warnings,
    ))
}

/// Judges one attestation: its age, then the rules. `Ok` with the rules' warnings when it
/// passes, `Err` with the reason when it does not.
fn judge(
    candidate: &Candidate<'_>,
    requirement: &AttestationRequirement,
    reference: &Reference,
    subject: &Descriptor,
    pack: Option<&ModelPack>,
    evaluated_at: &str,
    at: jiff::Timestamp,
) -> Result<Result<Vec<String>, String>, EvaluateError> {
    if let Some(max_age) = requirement.max_age_seconds {
        let time = match &candidate.time {
            Ok(time) => *time,
            Err(e) => return Ok(Err(format!("its age cannot be judged: {e}"))),
        };
        let age = at.as_second().saturating_sub(time.as_second());
        if age < CLOCK_SKEW_SECONDS.saturating_neg() {
            return Ok(Err(format!(
                "it says it was made {time}, after the evaluation time"
            )));
        }
        if age > max_age {
            return Ok(Err(format!(
                "made {time}, {age} s before the evaluation, older than {max_age} s"
            )));
        }
    }
    let Some(rules) = &requirement.rules else {
        return Ok(Ok(Vec::new()));
    };
    let input = rule_input(
        &candidate.statement,
        candidate.authority,
        subject,
        reference,
        pack,
        evaluated_at,
    );
    match rules.evaluate(&input) {
        Ok(verdict) if verdict.deny.is_empty() => Ok(Ok(verdict
            .warn
            .iter()
            .map(|w| format!("{}: {w}", candidate.source))
            .collect())),
        Ok(verdict) => Ok(Err(verdict.deny.join("; "))),
        // A rule that fails on this input fails it: closed.
        Err(RuleFailure::Failed(e)) => Ok(Err(format!("the rules failed: {e}"))),
        Err(RuleFailure::Limit(e)) => Err(EvaluateError::RuleLimit(e)),
    }
}

/// The input document Rego rules read (documented in docs/policy.md): the verified statement,
/// who signed it, the subject, the ModelPack's manifest and config, and the evaluation time.
pub fn rule_input(
    statement: &Statement,
    authority: &str,
    subject: &Descriptor,
    reference: &Reference,
    pack: Option<&ModelPack>,
    evaluated_at: &str,
) -> serde_json::Value {
    json!({
        "statement": statement,
        "predicateType": statement.predicate_type,
        "predicate": statement.predicate,
        "signer": {"authority": authority},
        "subject": {"digest": subject.digest, "reference": reference.to_string()},
        "modelpack": pack.map(|p| json!({"manifest": p.manifest, "config": p.config})),
        "now": evaluated_at,
    })
}

fn modelpack(pack: &ModelPack, rules: &ModelPackRules) -> Requirement {
    let mut reasons = Vec::new();
    let family = pack.family.name();
    if let Some(families) = &rules.families
        && !families.iter().any(|f| f == family)
    {
        reasons.push(format!(
            "its family is {family}, not one of {}",
            families.join(", ")
        ));
    }
    let total = pack.total_layer_size();
    if let Some(max) = rules.max_size
        && total > max
    {
        reasons.push(format!(
            "its layers total {total} bytes, over the {max} allowed"
        ));
    }
    for layer in &pack.layers {
        let name = layer.filepath.as_deref().unwrap_or("(no path)");
        if layer.untested && !rules.allow_untested {
            reasons.push(format!("{name}: its media type was guessed (untested)"));
        }
        if let Some(globs) = &rules.media_types
            && !globs
                .iter()
                .any(|g| g.matches(&layer.descriptor.media_type))
        {
            reasons.push(format!(
                "{name}: media type {} is not allowed",
                layer.descriptor.media_type
            ));
        }
        let is_weight = layer.layer_type.role == crate::modelpack::Role::Weight;
        if let (Some(formats), true) = (&rules.weight_formats, is_weight) {
            let ending = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
            if !ending
                .as_deref()
                .is_some_and(|e| formats.iter().any(|f| f == e))
            {
                reasons.push(format!("{name}: weights must be {}", formats.join(" or ")));
            }
        }
    }
    if let Some(allowed) = &rules.licenses {
        let licenses: Vec<String> = pack
            .config
            .pointer("/descriptor/licenses")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if licenses.is_empty() {
            reasons.push("it declares no license".into());
        }
        for license in licenses.iter().filter(|l| !allowed.contains(l)) {
            reasons.push(format!("license {license} is not allowed"));
        }
    }
    Requirement {
        requirement: "modelpack".into(),
        passed: reasons.is_empty(),
        evidence: vec![json!({"family": family, "layers": pack.layers.len(), "size": total})],
        reasons,
    }
}
