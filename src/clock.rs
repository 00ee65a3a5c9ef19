//! The time modelseal records and judges by: now, to the second (RFC 3339 times in signed
//! documents carry whole seconds).

/// Now, rounded to the second.
pub fn now() -> jiff::Timestamp {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Second).unwrap_or(now)
}

/// Now as RFC 3339 text, to the second.
pub fn now_text() -> String {
    now().to_string()
}
