//! The OIDC identity token a keyless signature is requested with: given (`--identity-token`,
//! `SIGSTORE_ID_TOKEN`) or asked of GitHub Actions' token service. Fulcio verifies the token;
//! modelseal reads only the claim it must sign to prove possession of its key. The token is a
//! credential: kept in zeroized memory and never printed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::services::Http;

/// The most bytes of a token accepted.
const MAX_TOKEN_BYTES: usize = 64 << 10;

pub struct IdentityToken {
    token: Zeroizing<String>,
    subject: String,
}

impl std::fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityToken")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

impl IdentityToken {
    /// Reads a JWT's claims (unverified: Fulcio verifies it).
    pub fn parse(token: &str) -> Result<IdentityToken, String> {
        let token = token.trim();
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!(
                "the identity token is over {MAX_TOKEN_BYTES} bytes"
            ));
        }
        let mut parts = token.split('.');
        let (Some(_header), Some(claims), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("the identity token is not a JWT (three dot-separated parts)".into());
        };
        let claims = URL_SAFE_NO_PAD
            .decode(claims.trim_end_matches('='))
            .map_err(|_| "the identity token's claims are not base64url".to_string())?;
        let claims: Claims = serde_json::from_slice(&claims)
            .map_err(|_| "the identity token's claims are not JSON".to_string())?;
        // Fulcio's challenge: the email for email identities, else the subject.
        let subject = claims
            .email
            .or(claims.sub)
            .ok_or("the identity token has neither an email nor a subject claim")?;
        Ok(IdentityToken {
            token: Zeroizing::new(token.to_string()),
            subject,
        })
    }

    /// The token from, in order: `given` (`--identity-token`, the token or a file holding
    /// it), `SIGSTORE_ID_TOKEN`, GitHub Actions' OIDC service.
    pub fn find(given: Option<&str>) -> Result<IdentityToken, String> {
        if let Some(given) = given {
            let path = std::path::Path::new(given);
            if !given.contains('.') || path.is_file() {
                let bytes = crate::files::read_limited(path, MAX_TOKEN_BYTES as u64)
                    .map_err(|e| format!("cannot read the identity token file {given}: {e}"))?;
                let text = Zeroizing::new(
                    String::from_utf8(bytes)
                        .map_err(|_| "the identity token file is not UTF-8".to_string())?,
                );
                return IdentityToken::parse(&text);
            }
            return IdentityToken::parse(given);
        }
        if let Ok(token) = std::env::var("SIGSTORE_ID_TOKEN") {
            let token = Zeroizing::new(token);
            return IdentityToken::parse(&token);
        }
        if let (Ok(url), Ok(bearer)) = (
            std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL"),
            std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ) {
            let bearer = Zeroizing::new(bearer);
            return github_actions_token(&url, &bearer);
        }
        Err("keyless signing needs an OIDC identity token: give --identity-token, set SIGSTORE_ID_TOKEN, or run in GitHub Actions with `permissions: id-token: write`".into())
    }

    pub fn as_str(&self) -> &str {
        &self.token
    }

    /// The identity Fulcio will certify (and the challenge signed for it).
    pub fn subject(&self) -> &str {
        &self.subject
    }
}

/// Asks GitHub Actions for a token with the `sigstore` audience.
fn github_actions_token(url: &str, bearer: &str) -> Result<IdentityToken, String> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!("{url}{separator}audience=sigstore");
    let answer = Zeroizing::new(Http::new()?.get_with_bearer(&url, bearer)?);
    #[derive(Deserialize)]
    struct Answer {
        value: String,
    }
    let answer: Answer = serde_json::from_slice(&answer)
        .map_err(|_| "GitHub Actions' token service did not answer with a token".to_string())?;
    let value = Zeroizing::new(answer.value);
    IdentityToken::parse(&value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "eyJhbGciOiJub25lIn0.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn the_challenge_is_the_email_else_the_subject() {
        let t = IdentityToken::parse(&jwt(r#"{"sub":"123","email":"a@b.c"}"#)).unwrap();
        assert_eq!(t.subject(), "a@b.c");
        let t = IdentityToken::parse(&jwt(r#"{"sub":"repo:acme/m"}"#)).unwrap();
        assert_eq!(t.subject(), "repo:acme/m");
        assert!(IdentityToken::parse(&jwt(r#"{"aud":"x"}"#)).is_err());
        assert!(IdentityToken::parse("not-a-jwt").is_err());
        assert!(IdentityToken::parse("a.%%%.c").is_err());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = jwt(r#"{"sub":"s"}"#);
        let t = IdentityToken::parse(&token).unwrap();
        assert!(!format!("{t:?}").contains(&token));
    }
}
