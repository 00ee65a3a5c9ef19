//! Strict JSON for signed payloads: bytes that different parsers could read differently (a key
//! given twice, even in another case; invalid UTF-8) are refused before any field is looked at.

use std::collections::HashSet;
use std::fmt;

use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor,
};

/// Parses `bytes` as `T` after checking that no object anywhere repeats a key.
pub fn from_slice_strict<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    check_unique_keys(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Fails on invalid JSON or UTF-8, and on any object with a repeated key.
pub fn check_unique_keys(bytes: &[u8]) -> Result<(), String> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    UniqueKeys
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .map_err(|e| e.to_string())
}

/// Walks any JSON value, remembering the keys of each object.
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    /// Keys are compared ignoring ASCII case too: Go's encoding/json (what cosign reads
    /// payloads with) matches field names case-insensitively, so `"Image"` after `"image"`
    /// could be read by cosign and ignored by us.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let folded = key.to_ascii_lowercase();
            if keys.contains(&folded) {
                return Err(A::Error::custom(format!(
                    "duplicate key {key:?} (keys are compared ignoring case)"
                )));
            }
            map.next_value_seed(UniqueKeys)?;
            keys.insert(folded);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(UniqueKeys)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_anywhere_are_refused() {
        check_unique_keys(br#"{"a":{"b":1,"c":[{"d":2}]},"e":null}"#).unwrap();
        for bad in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"x":{"sha256":"aa","sha256":"bb"}}"#,
            br#"[{"k":1,"k":1}]"#,
            br#"{"a":1} {"b":2}"#,
            b"{\"a\":\"\xff\"}",
            br#"{"a":1"#,
            br#"{"image":{"docker-manifest-digest":"a","Docker-Manifest-Digest":"b"}}"#,
            br#"{"critical":{},"Critical":{}}"#,
        ] {
            assert!(
                check_unique_keys(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // The same key in different objects is fine.
        check_unique_keys(br#"{"a":{"k":1},"b":{"k":1}}"#).unwrap();
    }
}
