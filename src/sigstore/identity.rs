//! Who a keyless signature must come from: the certificate's identity (its subject alternative
//! name) and OIDC issuer, each exact or an anchored regular expression as cosign matches them,
//! and optionally the GitHub workflow claims cosign's `--certificate-github-workflow-*` flags
//! check.

use sigstore_verify::{VerificationPolicy, VerificationResult};

#[derive(Clone, Debug)]
pub enum Matcher {
    Exact(String),
    Regexp(regex::Regex),
}

impl Matcher {
    /// A regexp matched against the whole value, as cosign anchors them: `.*@acme\.com` never
    /// matches `eve@acme.com.evil`.
    pub fn regexp(pattern: &str) -> Result<Matcher, String> {
        regex::Regex::new(&format!("^(?:{pattern})$"))
            .map(Matcher::Regexp)
            .map_err(|e| format!("{pattern:?} is not a regular expression: {e}"))
    }

    /// The exact value, or else the regexp; with neither, the error is `missing`. A regexp that
    /// does not compile says so.
    pub fn from_flags(
        exact: Option<&str>,
        regexp: Option<&str>,
        missing: &str,
    ) -> Result<Matcher, String> {
        match (exact, regexp) {
            (Some(exact), _) => Ok(Matcher::Exact(exact.to_string())),
            (None, Some(regexp)) => Matcher::regexp(regexp),
            (None, None) => Err(missing.to_string()),
        }
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(exact) => exact == value,
            Matcher::Regexp(re) => re.is_match(value),
        }
    }

    fn describe(&self) -> String {
        match self {
            Matcher::Exact(exact) => exact.clone(),
            // Show the pattern as the user gave it, without the anchoring added here.
            Matcher::Regexp(re) => {
                let anchored = re.as_str();
                let inner = anchored
                    .strip_prefix("^(?:")
                    .and_then(|s| s.strip_suffix(")$"))
                    .unwrap_or(anchored);
                format!("/{inner}/")
            }
        }
    }
}

/// The GitHub Actions claims a Fulcio certificate carries (OIDs 1.3.6.1.4.1.57264.1.2 to .6,
/// or their successors), each required to equal the given value when given.
#[derive(Clone, Debug, Default)]
pub struct WorkflowClaims {
    pub trigger: Option<String>,
    pub sha: Option<String>,
    pub name: Option<String>,
    pub repository: Option<String>,
    pub git_ref: Option<String>,
}

/// A keyless identity: identity and issuer required, workflow claims optional.
#[derive(Clone, Debug)]
pub struct Identity {
    pub subject: Matcher,
    pub issuer: Matcher,
    pub workflow: WorkflowClaims,
}

impl Identity {
    pub fn new(subject: Matcher, issuer: Matcher) -> Identity {
        Identity {
            subject,
            issuer,
            workflow: WorkflowClaims::default(),
        }
    }

    /// The policy sigstore-verify applies: every certificate check but the identity, which
    /// [`Identity::check`] makes on the verified certificate, so that every mismatch is
    /// reported alike.
    pub fn policy(&self) -> VerificationPolicy {
        VerificationPolicy::any_identity()
    }

    /// How the identity reads in reports: `SUBJECT (ISSUER)`.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.subject.describe(), self.issuer.describe())
    }

    /// Checks a verified certificate against the identity; the reason names what differs.
    pub fn check(&self, result: &VerificationResult) -> Result<(), String> {
        let subject = result.identity().map(|i| i.as_str());
        if !subject.is_some_and(|s| self.subject.matches(s)) {
            return Err(format!(
                "its certificate's identity is {}, not {}",
                subject.unwrap_or("absent"),
                self.subject.describe()
            ));
        }
        let issuer = result.issuer();
        if !issuer.is_some_and(|i| self.issuer.matches(i)) {
            return Err(format!(
                "its certificate's issuer is {}, not {}",
                issuer.unwrap_or("absent"),
                self.issuer.describe()
            ));
        }
        self.check_workflow(result)
    }

    fn check_workflow(&self, result: &VerificationResult) -> Result<(), String> {
        let claims = result.certificate().map(|c| &c.ci_claims);
        let github = claims.map(|c| &c.deprecated_github);
        let wanted = &self.workflow;
        // Each claim as cosign reads it (the GitHub extensions), else its successor.
        let checks = [
            (
                "workflow trigger",
                &wanted.trigger,
                github
                    .and_then(|g| g.workflow_trigger.clone())
                    .or_else(|| claims.and_then(|c| c.build_trigger.clone())),
            ),
            (
                "workflow SHA",
                &wanted.sha,
                github
                    .and_then(|g| g.workflow_sha.clone())
                    .or_else(|| claims.and_then(|c| c.source_repository_digest.clone())),
            ),
            (
                "workflow name",
                &wanted.name,
                github.and_then(|g| g.workflow_name.clone()),
            ),
            (
                "workflow repository",
                &wanted.repository,
                github.and_then(|g| g.workflow_repository.clone()),
            ),
            (
                "workflow ref",
                &wanted.git_ref,
                github
                    .and_then(|g| g.workflow_ref.clone())
                    .or_else(|| claims.and_then(|c| c.source_repository_ref.clone())),
            ),
        ];
        for (what, wanted, found) in checks {
            let Some(wanted) = wanted else { continue };
            if found.as_deref() != Some(wanted.as_str()) {
                return Err(format!(
                    "its certificate's GitHub {what} is {}, not {wanted:?}",
                    found.map_or("absent".to_string(), |f| format!("{f:?}"))
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regexps_match_the_whole_value() {
        let m = Matcher::regexp(r".*@acme\.com").unwrap();
        assert!(m.matches("alice@acme.com"));
        assert!(!m.matches("alice@acme.com.evil.org"));
        assert!(!m.matches("xalice@acme.comx"));
        assert_eq!(m.describe(), r"/.*@acme\.com/");
        assert!(Matcher::regexp("(").is_err());
    }

    #[test]
    fn an_exact_value_wins_over_a_regexp_and_one_is_required() {
        let m = Matcher::from_flags(Some("a"), Some("b"), "none").unwrap();
        assert!(m.matches("a") && !m.matches("b"));
        assert_eq!(
            Matcher::from_flags(None, None, "none given").unwrap_err(),
            "none given"
        );
        // A bad pattern is reported as one, not as a missing value.
        let err = Matcher::from_flags(None, Some("(a"), "none given").unwrap_err();
        assert!(err.contains("is not a regular expression"), "{err}");
    }
}
