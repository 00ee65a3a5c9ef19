//! safetensors header checks: the header length bounded, the header a JSON object of tensors
//! with known dtypes, each tensor's byte range the size its shape and dtype need, inside the
//! file, and no two ranges overlapping.

use std::io::Read;

/// safetensors' own limit on the header.
pub const MAX_HEADER_BYTES: u64 = 100 << 20;

/// The bits per element of each dtype safetensors defines.
fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        _ => return None,
    })
}

/// Reads the header from `reader` (positioned at the start of a file of `size` bytes) and
/// returns what is wrong with it; empty when it is sound. Reads only the header.
pub fn check(reader: &mut impl Read, size: u64) -> std::io::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut length = [0u8; 8];
    if size < 8 {
        problems.push(format!(
            "the file is {size} bytes, too short for a safetensors header"
        ));
        return Ok(problems);
    }
    reader.read_exact(&mut length)?;
    let header_len = u64::from_le_bytes(length);
    if header_len > MAX_HEADER_BYTES {
        problems.push(format!(
            "the header claims {header_len} bytes, over safetensors' limit of {MAX_HEADER_BYTES}"
        ));
        return Ok(problems);
    }
    let data_len = match size.checked_sub(8).and_then(|s| s.checked_sub(header_len)) {
        Some(d) => d,
        None => {
            problems.push(format!(
                "the header claims {header_len} bytes, more than the file holds"
            ));
            return Ok(problems);
        }
    };
    let mut header = vec![0u8; usize::try_from(header_len).unwrap_or(0)];
    reader.read_exact(&mut header)?;
    // Read as safetensors itself reads it (serde_json: UTF-8, no case folding).
    let parsed: serde_json::Value = match serde_json::from_slice(&header) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("the header is not valid JSON: {e}"));
            return Ok(problems);
        }
    };
    let Some(tensors) = parsed.as_object() else {
        problems.push("the header is not a JSON object".into());
        return Ok(problems);
    };
    let mut ranges = Vec::new();
    for (name, tensor) in tensors {
        if name == "__metadata__" {
            let all_strings = tensor
                .as_object()
                .is_some_and(|m| m.values().all(serde_json::Value::is_string));
            if !all_strings {
                problems.push("__metadata__ is not a map of strings".into());
            }
            continue;
        }
        match tensor_range(tensor, data_len) {
            Ok(range) => ranges.push((range, name.clone())),
            Err(reason) => problems.push(format!("tensor {name:?}: {reason}")),
        }
    }
    ranges.sort();
    for pair in ranges.windows(2) {
        if let [((_, end), a), ((begin, _), b)] = pair
            && begin < end
        {
            problems.push(format!("tensors {a:?} and {b:?} overlap"));
        }
    }
    // safetensors itself requires the tensors to fill the data exactly: a gap or a tail is
    // data no tensor accounts for.
    let covered: u64 = ranges.iter().fold(0, |sum, ((begin, end), _)| {
        sum.saturating_add(end.saturating_sub(*begin))
    });
    if problems.is_empty() && covered != data_len {
        problems.push(format!(
            "the tensors account for {covered} of the {data_len} data bytes: the rest is hidden data"
        ));
    }
    Ok(problems)
}

/// The checked `[begin, end)` of one tensor's data.
fn tensor_range(tensor: &serde_json::Value, data_len: u64) -> Result<(u64, u64), String> {
    let field = |name: &str| tensor.get(name);
    let dtype = field("dtype")
        .and_then(serde_json::Value::as_str)
        .ok_or("it has no dtype")?;
    let bits = dtype_bits(dtype).ok_or_else(|| format!("unknown dtype {dtype:?}"))?;
    let shape = field("shape")
        .and_then(serde_json::Value::as_array)
        .ok_or("it has no shape")?;
    let mut elements: u64 = 1;
    for dim in shape {
        let dim = dim.as_u64().ok_or("a dimension is not a whole number")?;
        elements = elements
            .checked_mul(dim)
            .ok_or("its shape overflows 64 bits")?;
    }
    let bits_total = elements
        .checked_mul(bits)
        .ok_or("its size overflows 64 bits")?;
    if bits_total % 8 != 0 {
        return Err(format!(
            "{elements} elements of {dtype} do not fill whole bytes"
        ));
    }
    let bytes = bits_total / 8;
    let offsets = tensor["data_offsets"]
        .as_array()
        .ok_or("it has no data_offsets")?;
    let [begin, end] = offsets.as_slice() else {
        return Err("data_offsets is not [begin, end]".into());
    };
    let (begin, end) = (
        begin.as_u64().ok_or("an offset is not a whole number")?,
        end.as_u64().ok_or("an offset is not a whole number")?,
    );
    if end < begin {
        return Err(format!("its data ends ({end}) before it begins ({begin})"));
    }
    if end > data_len {
        return Err(format!(
            "its data ends at {end}, past the end of the file's data ({data_len})"
        ));
    }
    if end.saturating_sub(begin) != bytes {
        return Err(format!(
            "its data is {} bytes, but {dtype} of this shape needs {bytes}",
            end.saturating_sub(begin)
        ));
    }
    Ok((begin, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend(std::iter::repeat_n(0u8, data));
        bytes
    }

    fn problems(bytes: &[u8]) -> Vec<String> {
        check(&mut &bytes[..], bytes.len() as u64).unwrap()
    }

    #[test]
    fn names_differing_only_in_case_are_two_tensors() {
        let header = r#"{"A":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}"#;
        assert_eq!(problems(&file(header, 8)), Vec::<String>::new());
    }

    #[test]
    fn a_sound_header_has_no_problems() {
        let header = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[16,24]}}"#;
        assert_eq!(problems(&file(header, 24)), Vec::<String>::new());
    }

    #[test]
    fn broken_headers_are_named() {
        let mut huge = (8u64 << 60).to_le_bytes().to_vec();
        huge.extend_from_slice(b"{}");
        assert!(problems(&huge)[0].contains("over safetensors' limit"));
        for (header, data, needle) in [
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}"#,
                16,
                "needs 8",
            ),
            (
                r#"{"a":{"dtype":"X","shape":[2],"data_offsets":[0,8]}}"#,
                8,
                "unknown dtype",
            ),
            (
                r#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}"#,
                4,
                "past the end",
            ),
            (
                r#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}"#,
                12,
                "overlap",
            ),
            (
                r#"{"a":{"dtype":"U8","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#,
                8,
                "overflows",
            ),
            (r#"[1]"#, 0, "not a JSON object"),
            (
                r#"{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#,
                8,
                "hidden data",
            ),
            (
                r#"{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}"#,
                2,
                "whole bytes",
            ),
            (r#"{"a":"#, 0, "not valid JSON"),
        ] {
            let found = problems(&file(header, data));
            assert!(
                found.iter().any(|p| p.contains(needle)),
                "{header}: {found:?}"
            );
        }
        assert!(problems(&3u64.to_le_bytes())[0].contains("more than the file holds"));
    }
}
