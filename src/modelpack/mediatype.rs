//! ModelPack media types: the current CNCF family, the legacy CNAI family and KitOps ModelKits.

use std::fmt;

pub const ARTIFACT_TYPE_CNCF: &str = "application/vnd.cncf.model.manifest.v1+json";
pub const CONFIG_CNCF: &str = "application/vnd.cncf.model.config.v1+json";
pub const ARTIFACT_TYPE_CNAI: &str = "application/vnd.cnai.model.manifest.v1+json";
pub const CONFIG_CNAI: &str = "application/vnd.cnai.model.config.v1+json";
pub const ARTIFACT_TYPE_KITOPS: &str = "application/vnd.kitops.modelkit.manifest.v1+json";
pub const CONFIG_KITOPS: &str = "application/vnd.kitops.modelkit.config.v1+json";

/// Which specification an artifact follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// The current CNCF ModelPack specification (`vnd.cncf.model`).
    Cncf,
    /// ModelPack before v0.0.7 (`vnd.cnai.model`, snake_case config keys).
    CnaiLegacy,
    /// A KitOps ModelKit (`vnd.kitops.modelkit`).
    #[serde(rename = "kitops")]
    KitOps,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Cncf => "cncf",
            Family::CnaiLegacy => "cnai-legacy",
            Family::KitOps => "kitops",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Family::Cncf => "CNCF ModelPack (current specification)",
            Family::CnaiLegacy => "legacy CNAI ModelPack (model-spec before v0.0.7)",
            Family::KitOps => "KitOps ModelKit",
        }
    }

    fn layer_prefix(self) -> &'static str {
        match self {
            Family::Cncf => "application/vnd.cncf.model.",
            Family::CnaiLegacy => "application/vnd.cnai.model.",
            Family::KitOps => "application/vnd.kitops.modelkit.",
        }
    }

    /// The annotation that carries a layer's file path, where the family has one.
    pub fn filepath_annotation(self) -> Option<&'static str> {
        match self {
            Family::Cncf => Some("org.cncf.model.filepath"),
            Family::CnaiLegacy => Some("org.cnai.model.filepath"),
            Family::KitOps => None,
        }
    }

    /// The annotations that may carry a layer's file metadata (the legacy family had two names).
    pub fn metadata_annotations(self) -> &'static [&'static str] {
        match self {
            Family::Cncf => &["org.cncf.model.file.metadata+json"],
            Family::CnaiLegacy => &[
                "org.cnai.model.file.metadata+json",
                "org.cnai.model.file.metadata",
            ],
            Family::KitOps => &[],
        }
    }

    pub fn untested_annotation(self) -> Option<&'static str> {
        match self {
            Family::Cncf => Some("org.cncf.model.file.mediatype.untested"),
            _ => None,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a layer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Weight,
    WeightConfig,
    Doc,
    Code,
    Dataset,
    /// KitOps: an extra part of the model.
    ModelPart,
    /// KitOps: an MCP server bundle.
    McpBundle,
}

impl Role {
    /// The roles a ModelPack can hold, with the names used on the command line.
    pub const MODELPACK: [Role; 5] = [
        Role::Weight,
        Role::WeightConfig,
        Role::Doc,
        Role::Code,
        Role::Dataset,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Weight => "weight",
            Role::WeightConfig => "weight-config",
            Role::Doc => "doc",
            Role::Code => "code",
            Role::Dataset => "dataset",
            Role::ModelPart => "model-part",
            Role::McpBundle => "mcp-bundle",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::MODELPACK.into_iter().find(|r| r.name() == name)
    }

    /// The word in a ModelPack media type (`vnd.cncf.model.<word>.v1.raw`).
    fn modelpack_word(self) -> Option<&'static str> {
        match self {
            Role::Weight => Some("weight"),
            Role::WeightConfig => Some("weight.config"),
            Role::Doc => Some("doc"),
            Role::Code => Some("code"),
            Role::Dataset => Some("dataset"),
            Role::ModelPart | Role::McpBundle => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a layer's bytes are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Packing {
    /// One file, as is.
    Raw,
    Tar,
    TarGzip,
    TarZstd,
}

impl Packing {
    fn suffix(self) -> &'static str {
        match self {
            Packing::Raw => "raw",
            Packing::Tar => "tar",
            Packing::TarGzip => "tar+gzip",
            Packing::TarZstd => "tar+zstd",
        }
    }

    /// Whether the layer digest is also the digest of the uncompressed content (the diffId).
    pub fn is_uncompressed(self) -> bool {
        matches!(self, Packing::Raw | Packing::Tar)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerType {
    pub family: Family,
    pub role: Role,
    pub packing: Packing,
}

impl LayerType {
    pub fn modelpack(role: Role, packing: Packing) -> LayerType {
        LayerType {
            family: Family::Cncf,
            role,
            packing,
        }
    }

    /// Parses a layer media type of the given family; `None` for anything the family does
    /// not define.
    pub fn parse(family: Family, media_type: &str) -> Option<LayerType> {
        let rest = media_type.strip_prefix(family.layer_prefix())?;
        let (word, packing) = rest.split_once(".v1.")?;
        let packing = [
            Packing::Raw,
            Packing::Tar,
            Packing::TarGzip,
            Packing::TarZstd,
        ]
        .into_iter()
        .find(|p| p.suffix() == packing)?;
        let role = match family {
            Family::Cncf | Family::CnaiLegacy => Role::MODELPACK
                .into_iter()
                .find(|r| r.modelpack_word() == Some(word))?,
            Family::KitOps => match word {
                "model" => Role::Weight,
                "modelpart" => Role::ModelPart,
                "dataset" => Role::Dataset,
                "code" => Role::Code,
                "docs" => Role::Doc,
                // MCP bundles are verbatim ZIP files, never tar.
                "mcpb" if packing == Packing::Raw => Role::McpBundle,
                _ => return None,
            },
        };
        Some(LayerType {
            family,
            role,
            packing,
        })
    }

    /// The media type string; KitOps roles have no ModelPack spelling and are never written.
    pub fn media_type(self) -> Option<String> {
        let word = self.role.modelpack_word()?;
        match self.family {
            Family::KitOps => None,
            family => Some(format!(
                "{}{word}.v1.{}",
                family.layer_prefix(),
                self.packing.suffix()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_modelpack_type_round_trips() {
        let mut count = 0;
        for family in [Family::Cncf, Family::CnaiLegacy] {
            for role in Role::MODELPACK {
                for packing in [
                    Packing::Raw,
                    Packing::Tar,
                    Packing::TarGzip,
                    Packing::TarZstd,
                ] {
                    let t = LayerType {
                        family,
                        role,
                        packing,
                    };
                    let s = t.media_type().unwrap();
                    assert_eq!(LayerType::parse(family, &s), Some(t), "{s}");
                    count += 1;
                }
            }
        }
        assert_eq!(count, 40);
        assert_eq!(
            LayerType::modelpack(Role::WeightConfig, Packing::Raw)
                .media_type()
                .unwrap(),
            "application/vnd.cncf.model.weight.config.v1.raw"
        );
    }

    #[test]
    fn names_and_json_agree() {
        for family in [Family::Cncf, Family::CnaiLegacy, Family::KitOps] {
            let json = serde_json::to_value(family).unwrap();
            assert_eq!(json, family.name());
        }
        for role in Role::MODELPACK {
            assert_eq!(serde_json::to_value(role).unwrap(), role.name());
            assert_eq!(Role::from_name(role.name()), Some(role));
        }
    }

    #[test]
    fn unknown_and_foreign_types_are_rejected() {
        for bad in [
            "application/vnd.cncf.model.weight.v1.raw+gzip",
            "application/vnd.cncf.model.weights.v1.raw",
            "application/vnd.cncf.model.weight.v2.raw",
            "application/vnd.oci.image.layer.v1.tar",
            "application/vnd.cnai.model.weight.v1.raw",
        ] {
            assert_eq!(LayerType::parse(Family::Cncf, bad), None, "{bad}");
        }
        assert_eq!(
            LayerType::parse(
                Family::KitOps,
                "application/vnd.kitops.modelkit.mcpb.v1.tar"
            ),
            None
        );
        let kit = LayerType::parse(
            Family::KitOps,
            "application/vnd.kitops.modelkit.model.v1.tar+gzip",
        );
        assert_eq!(kit.map(|t| t.role), Some(Role::Weight));
    }
}
