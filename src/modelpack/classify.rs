//! Which role a file plays in a model, from its name: the documented default mapping, and the
//! user's overrides, which win.

use glob::Pattern;

use super::mediatype::Role;

/// File names (lowercase, exact) that the extension rules would get wrong.
const NAMED: &[(&str, Role)] = &[
    ("tokenizer.model", Role::WeightConfig),
    ("spiece.model", Role::WeightConfig),
    ("sentencepiece.bpe.model", Role::WeightConfig),
    ("vocab.txt", Role::WeightConfig),
    ("merges.txt", Role::WeightConfig),
    ("added_tokens.txt", Role::WeightConfig),
    ("requirements.txt", Role::Code),
    ("dockerfile", Role::Code),
    ("makefile", Role::Code),
    ("modelfile", Role::Code),
    ("kitfile", Role::Code),
];

/// Name prefixes (lowercase) of documentation files, with or without an extension.
const DOC_PREFIXES: &[&str] = &[
    "readme",
    "license",
    "licence",
    "notice",
    "copying",
    "changelog",
    "authors",
    "citation",
];

/// Extensions (lowercase, without the dot) per role.
const EXTENSIONS: &[(Role, &[&str])] = &[
    (
        Role::Weight,
        &[
            "safetensors",
            "gguf",
            "ggml",
            "bin",
            "pt",
            "pth",
            "ckpt",
            "onnx",
            "h5",
            "hdf5",
            "keras",
            "tflite",
            "pb",
            "msgpack",
            "mlmodel",
            "pkl",
            "pickle",
            "joblib",
            "npz",
            "npy",
            "nemo",
            "engine",
            "plan",
            "ot",
            "params",
            "mar",
            "llamafile",
        ],
    ),
    (
        Role::WeightConfig,
        &["json", "yaml", "yml", "tiktoken", "vocab", "spm", "model"],
    ),
    (
        Role::Dataset,
        &[
            "csv", "tsv", "jsonl", "parquet", "arrow", "feather", "avro", "tfrecord", "orc",
        ],
    ),
    (
        Role::Code,
        &[
            "py", "ipynb", "sh", "bash", "js", "mjs", "ts", "go", "rs", "c", "cc", "cpp", "h",
            "hpp", "cu", "java", "kt", "scala", "rb", "r", "jl", "lua", "swift", "pl", "toml",
            "cfg", "ini", "proto", "cmake",
        ],
    ),
    (
        Role::Doc,
        &[
            "md", "rst", "txt", "pdf", "html", "htm", "adoc", "png", "jpg", "jpeg", "gif", "svg",
            "webp",
        ],
    ),
];

/// A user's rule: files matching the glob play the role.
#[derive(Clone, Debug)]
pub struct Override {
    pub pattern: Pattern,
    pub role: Role,
}

impl Override {
    pub fn new(glob: &str, role: Role) -> Result<Override, String> {
        let pattern = Pattern::new(glob).map_err(|e| format!("invalid pattern {glob:?}: {e}"))?;
        Ok(Override { pattern, role })
    }

    fn matches(&self, relative_path: &str) -> bool {
        let basename = relative_path.rsplit('/').next().unwrap_or(relative_path);
        self.pattern.matches(relative_path) || self.pattern.matches(basename)
    }
}

/// The role of a file, from the overrides (first match wins) and then the default mapping;
/// `None` when nothing says.
pub fn classify(relative_path: &str, overrides: &[Override]) -> Option<Role> {
    if let Some(rule) = overrides.iter().find(|o| o.matches(relative_path)) {
        return Some(rule.role);
    }
    default_role(relative_path)
}

/// The documented default mapping, by file name and then extension, case-insensitive.
pub fn default_role(relative_path: &str) -> Option<Role> {
    let basename = relative_path
        .rsplit('/')
        .next()
        .unwrap_or(relative_path)
        .to_ascii_lowercase();
    if let Some((_, role)) = NAMED.iter().find(|(name, _)| *name == basename) {
        return Some(*role);
    }
    let stem = basename.split('.').next().unwrap_or_default();
    if DOC_PREFIXES.contains(&stem) {
        return Some(Role::Doc);
    }
    let extension = basename.rsplit_once('.')?.1;
    EXTENSIONS
        .iter()
        .find(|(_, extensions)| extensions.contains(&extension))
        .map(|(role, _)| *role)
}

/// The model format a set of weight files implies, when they agree on one.
pub fn infer_format<'a>(weight_paths: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let mut found: Option<&'static str> = None;
    for path in weight_paths {
        let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
        let format = match extension.as_str() {
            "safetensors" => "safetensors",
            "gguf" => "gguf",
            "onnx" => "onnx",
            "pt" | "pth" | "bin" | "ckpt" => "pt",
            "h5" | "keras" => "keras",
            "tflite" => "tflite",
            _ => return None,
        };
        if found.is_some_and(|f| f != format) {
            return None;
        }
        found = Some(format);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mapping() {
        let cases = [
            ("model.safetensors", Some(Role::Weight)),
            (
                "shards/model-00001-of-00002.safetensors",
                Some(Role::Weight),
            ),
            ("Model.GGUF", Some(Role::Weight)),
            ("config.json", Some(Role::WeightConfig)),
            ("tokenizer.json", Some(Role::WeightConfig)),
            ("tokenizer.model", Some(Role::WeightConfig)),
            ("vocab.txt", Some(Role::WeightConfig)),
            ("README.md", Some(Role::Doc)),
            ("LICENSE", Some(Role::Doc)),
            ("notes.txt", Some(Role::Doc)),
            ("requirements.txt", Some(Role::Code)),
            ("inference.py", Some(Role::Code)),
            ("data/train.jsonl", Some(Role::Dataset)),
            ("data/train.parquet", Some(Role::Dataset)),
            ("weights.xyz", None),
            ("Makefile", Some(Role::Code)),
            ("noextension", None),
        ];
        for (path, role) in cases {
            assert_eq!(default_role(path), role, "{path}");
        }
    }

    #[test]
    fn overrides_win_and_match_paths_or_names() {
        let overrides = vec![
            Override::new("eval/*.json", Role::Dataset).unwrap(),
            Override::new("*.xyz", Role::Weight).unwrap(),
        ];
        assert_eq!(classify("eval/q.json", &overrides), Some(Role::Dataset));
        assert_eq!(
            classify("config.json", &overrides),
            Some(Role::WeightConfig)
        );
        assert_eq!(classify("deep/w.xyz", &overrides), Some(Role::Weight));
        assert!(Override::new("[", Role::Doc).is_err());
    }

    #[test]
    fn format_inference() {
        assert_eq!(
            infer_format(["a.safetensors", "b.safetensors"]),
            Some("safetensors")
        );
        assert_eq!(infer_format(["a.safetensors", "b.gguf"]), None);
        assert_eq!(infer_format(["pytorch_model.bin"]), Some("pt"));
        assert_eq!(infer_format([]), None);
    }
}
