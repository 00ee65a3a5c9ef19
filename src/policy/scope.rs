//! Which references a policy covers: globs over `HOST[:PORT]/REPOSITORY` for registries and
//! `oci:ABSOLUTE/PATH` for layouts (`*` within one path segment, `**` across segments). The
//! most specific match wins: the scope with the most literal characters.

use std::path::Path;

use crate::reference::{Location, Reference};

#[derive(Clone, Debug)]
pub struct Scope {
    pub text: String,
    pattern: glob::Pattern,
}

const OPTIONS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl Scope {
    pub fn new(text: &str) -> Result<Scope, String> {
        if text.is_empty() {
            return Err("a scope is empty".into());
        }
        if let Some(path) = text.strip_prefix("oci:")
            && !Path::new(path).is_absolute()
        {
            return Err(format!(
                "scope {text:?}: layout scopes name absolute paths (oci:/srv/models/*)"
            ));
        }
        // Registry host names are case-insensitive: scopes and references meet in lower case.
        let text = lower_host(text);
        let pattern =
            glob::Pattern::new(&text).map_err(|e| format!("scope {text:?} is not a glob: {e}"))?;
        Ok(Scope { text, pattern })
    }

    /// How specific the scope is: its literal characters (a bracket class counts as none).
    pub fn specificity(&self) -> usize {
        let mut count = 0usize;
        let mut in_class = false;
        for c in self.text.chars() {
            match c {
                '[' => in_class = true,
                ']' => in_class = false,
                '*' | '?' => {}
                _ if in_class => {}
                _ => count = count.saturating_add(1),
            }
        }
        count
    }

    pub fn matches(&self, subject: &str) -> bool {
        self.pattern.matches_with(subject, OPTIONS)
    }
}

/// What scopes are matched against: `HOST/REPOSITORY`, or `oci:` and the layout's absolute
/// path (resolved, so that `./models` and its absolute form are the same layout).
pub fn subject_of(reference: &Reference) -> String {
    match &reference.location {
        Location::Registry { host, repository } => {
            format!("{}/{repository}", host.to_ascii_lowercase())
        }
        Location::Layout(path) => {
            let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| {
                std::env::current_dir()
                    .map(|d| d.join(path))
                    .unwrap_or_else(|_| path.clone())
            });
            format!("oci:{}", absolute.display())
        }
    }
}

/// A registry scope with its host (up to the first `/`) in lower case.
fn lower_host(text: &str) -> String {
    if text.starts_with("oci:") {
        return text.to_string();
    }
    match text.split_once('/') {
        Some((host, rest)) => format!("{}/{rest}", host.to_ascii_lowercase()),
        None => text.to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_within_and_across_segments() {
        let one = Scope::new("registry.example.com/models/*").unwrap();
        assert!(one.matches("registry.example.com/models/llama"));
        assert!(!one.matches("registry.example.com/models/team/llama"));
        let deep = Scope::new("registry.example.com/**").unwrap();
        assert!(deep.matches("registry.example.com/models/team/llama"));
        assert!(one.specificity() > deep.specificity());
        assert!(
            Scope::new("Registry.Example.com/models/*")
                .unwrap()
                .matches("registry.example.com/models/x")
        );
        let class = Scope::new("registry.example.com/models/[a-z0-9._-]*").unwrap();
        let exact = Scope::new("registry.example.com/models/llama").unwrap();
        assert!(exact.specificity() > class.specificity());
        assert!(Scope::new("oci:relative/path").is_err());
        assert!(Scope::new("registry.example.com/[").is_err());
        assert!(Scope::new("").is_err());
    }
}
