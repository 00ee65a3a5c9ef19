//! What registries answer, read without a network: `WWW-Authenticate` challenges, `Link`
//! pagination and the distribution spec's error envelope. Pure functions, so that tests and
//! the fuzz targets reach them.

pub use super::auth::Challenge;

/// The `rel="next"` address among `Link` header values.
pub fn next_page<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    values.flat_map(|v| v.split(',')).find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_string())
    })
}

/// The `errors[].code` values of an error answer and its `code: message` text; anything that
/// is not an error envelope gives none.
pub fn error_envelope(body: &[u8]) -> (Vec<String>, String) {
    #[derive(Default, serde::Deserialize)]
    struct Envelope {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let envelope = serde_json::from_slice::<Envelope>(body).unwrap_or_default();
    let codes = envelope.errors.iter().map(|e| e.code.clone()).collect();
    let detail = envelope
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.code, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    (codes, detail)
}
