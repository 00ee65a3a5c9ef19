//! Who modelseal is to a registry: credentials from the Docker config, and the challenge a
//! registry answers an unauthenticated request with (`WWW-Authenticate: Basic …` or
//! `Bearer realm=…,service=…,scope=…`), which says how to get in.

use zeroize::Zeroizing;

/// What the Docker config holds for a registry host.
pub(super) enum Credentials {
    Anonymous,
    Basic {
        username: String,
        password: Zeroizing<String>,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the registry's token service.
    IdentityToken(Zeroizing<String>),
}

impl Credentials {
    /// Credentials from the Docker config (`auths`, `credsStore`, `credHelpers`,
    /// `DOCKER_CONFIG`), as docker, cosign and oras read them; anonymous when none is
    /// configured. `Err` carries a message.
    pub(super) fn from_docker_config(host: &str) -> Result<Credentials, String> {
        use docker_credential::{CredentialRetrievalError as E, DockerCredential};
        match docker_credential::get_credential(host) {
            Ok(DockerCredential::UsernamePassword(username, password)) => Ok(Credentials::Basic {
                username,
                password: Zeroizing::new(password),
            }),
            Ok(DockerCredential::IdentityToken(token)) => {
                Ok(Credentials::IdentityToken(Zeroizing::new(token)))
            }
            Err(E::NoCredentialConfigured | E::ConfigNotFound | E::ConfigReadError) => {
                Ok(Credentials::Anonymous)
            }
            Err(e) => Err(format!("cannot get the credentials for {host}: {e}")),
        }
    }

    pub(super) fn is_anonymous(&self) -> bool {
        matches!(self, Credentials::Anonymous)
    }
}

/// How a registry asks to be authenticated.
#[derive(Debug, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// Space-separated scopes, as the registry wrote them.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Reads a `WWW-Authenticate` value. Unknown schemes give `None`.
    pub fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(rest);
        let find = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer {
            realm: find("realm")?,
            service: find("service"),
            scope: find("scope"),
        })
    }
}

/// `key="value", key=value` pairs; quoted values may hold commas and escaped quotes.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_string();
        if key.is_empty() {
            return params;
        }
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        params.push((key, value));
    }
}

/// The answer of a token service: docker's `token` or OAuth2's `access_token`.
#[derive(serde::Deserialize)]
pub(super) struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
}

impl TokenResponse {
    pub(super) fn into_token(self) -> Option<Zeroizing<String>> {
        self.token
            .or(self.access_token)
            .filter(|t| !t.is_empty())
            .map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_challenges() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push repository:c:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push repository:c:pull".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"bearer realm=https://t.example/token, error="insufficient_scope""#),
            Some(Challenge::Bearer {
                realm: "https://t.example/token".into(),
                service: None,
                scope: None,
            })
        );
        assert_eq!(
            Challenge::parse(r#"Bearer realm="a\"b""#),
            Some(Challenge::Bearer {
                realm: "a\"b".into(),
                service: None,
                scope: None,
            })
        );
        assert_eq!(Challenge::parse("Bearer service=x"), None);
        assert_eq!(Challenge::parse("Negotiate abc"), None);
        assert_eq!(Challenge::parse(""), None);
        assert_eq!(Challenge::parse("Bearer realm"), None);
    }
}
