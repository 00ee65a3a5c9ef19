//! Generating SLSA provenance v1 for the build that produced a ModelPack: who built it (the
//! builder and the run), from what (source repository, ref and commit, the workflow, the
//! packed directory or Modelfile/Kitfile), and with what else (base models and datasets, each
//! pinned by digest). Filled from GitHub Actions' or GitLab CI's environment where it runs
//! there, and from what the caller says anywhere else (which wins).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::slsa::{
    BuildDefinition, BuildMetadata, Builder, ProvenanceV1, ResourceDescriptor, RunDetails,
};
use crate::modelpack::ModelPack;
use crate::oci::Digest;

/// The build type modelseal's provenance declares; `docs/buildtype-modelpack-v1.md` documents
/// its parameters.
pub const BUILD_TYPE: &str = "https://modelseal.dev/buildtypes/modelpack/v1";

/// Facts about the run, from the CI environment and the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildContext {
    /// Which CI the facts came from, if any (`github-actions`, `gitlab-ci`).
    pub ci: Option<String>,
    pub builder_id: Option<String>,
    pub invocation_id: Option<String>,
    pub source_repository: Option<String>,
    pub source_ref: Option<String>,
    pub source_commit: Option<String>,
    pub workflow_path: Option<String>,
    pub started_on: Option<String>,
    pub finished_on: Option<String>,
}

impl BuildContext {
    /// What GitHub Actions or GitLab CI say about the run, through `env`.
    pub fn from_ci(env: &dyn Fn(&str) -> Option<String>) -> BuildContext {
        let set = |name: &str| env(name).filter(|v| !v.is_empty());
        if set("GITHUB_ACTIONS").as_deref() == Some("true") {
            return github(&set);
        }
        if set("GITLAB_CI").as_deref() == Some("true") {
            return gitlab(&set);
        }
        BuildContext::default()
    }

    /// Fills what `self` lacks from `other`.
    pub fn or(self, other: BuildContext) -> BuildContext {
        BuildContext {
            ci: self.ci.or(other.ci),
            builder_id: self.builder_id.or(other.builder_id),
            invocation_id: self.invocation_id.or(other.invocation_id),
            source_repository: self.source_repository.or(other.source_repository),
            source_ref: self.source_ref.or(other.source_ref),
            source_commit: self.source_commit.or(other.source_commit),
            workflow_path: self.workflow_path.or(other.workflow_path),
            started_on: self.started_on.or(other.started_on),
            finished_on: self.finished_on.or(other.finished_on),
        }
    }
}

fn github(env: &dyn Fn(&str) -> Option<String>) -> BuildContext {
    let server = env("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
    let repository = env("GITHUB_REPOSITORY").map(|r| format!("{server}/{r}"));
    let hosted = env("RUNNER_ENVIRONMENT").as_deref() != Some("self-hosted");
    let invocation = match (env("GITHUB_REPOSITORY"), env("GITHUB_RUN_ID")) {
        (Some(repo), Some(run)) => Some(format!(
            "{server}/{repo}/actions/runs/{run}/attempts/{}",
            env("GITHUB_RUN_ATTEMPT").unwrap_or_else(|| "1".into())
        )),
        _ => None,
    };
    // GITHUB_WORKFLOW_REF is `owner/repo/.github/workflows/build.yml@refs/heads/main`.
    let workflow_path = env("GITHUB_WORKFLOW_REF").and_then(|w| {
        let (path, _) = w.split_once('@')?;
        let repo = env("GITHUB_REPOSITORY")?;
        path.strip_prefix(&format!("{repo}/")).map(str::to_string)
    });
    BuildContext {
        ci: Some("github-actions".into()),
        builder_id: Some(
            if hosted {
                "https://github.com/actions/runner/github-hosted"
            } else {
                "https://github.com/actions/runner/self-hosted"
            }
            .into(),
        ),
        invocation_id: invocation,
        source_repository: repository,
        source_ref: env("GITHUB_REF"),
        source_commit: env("GITHUB_SHA"),
        workflow_path,
        started_on: None,
        finished_on: None,
    }
}

fn gitlab(env: &dyn Fn(&str) -> Option<String>) -> BuildContext {
    let source_ref = env("CI_COMMIT_TAG")
        .map(|t| format!("refs/tags/{t}"))
        .or_else(|| env("CI_COMMIT_BRANCH").map(|b| format!("refs/heads/{b}")))
        .or_else(|| env("CI_COMMIT_REF_NAME"));
    let builder = match (env("CI_SERVER_URL"), env("CI_RUNNER_ID")) {
        (Some(server), Some(runner)) => Some(format!("{server}/-/runners/{runner}")),
        (Some(server), None) => Some(server),
        _ => None,
    };
    BuildContext {
        ci: Some("gitlab-ci".into()),
        builder_id: builder,
        invocation_id: env("CI_JOB_URL"),
        source_repository: env("CI_PROJECT_URL"),
        source_ref,
        source_commit: env("CI_COMMIT_SHA"),
        workflow_path: env("CI_CONFIG_PATH").or_else(|| Some(".gitlab-ci.yml".into())),
        started_on: env("CI_JOB_STARTED_AT"),
        finished_on: None,
    }
}

/// A file the ModelPack was built from (a Modelfile or Kitfile) and its digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildFile {
    pub kind: String,
    pub path: String,
    pub digest: Digest,
}

/// Everything the provenance says.
#[derive(Clone, Debug, Default)]
pub struct ProvenanceInput {
    pub context: BuildContext,
    /// The directory that was packed, as the caller names it.
    pub directory: Option<String>,
    pub build_file: Option<BuildFile>,
    /// Base models, datasets and other inputs, each pinned by digest.
    pub materials: Vec<ResourceDescriptor>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    #[error(
        "the provenance must name its builder: outside GitHub Actions and GitLab CI, give --builder-id URI"
    )]
    NoBuilder,
    #[error("{0:?} is not an RFC 3339 time")]
    BadTime(String),
    #[error("material {0:?} is not pinned: give it as URI@sha256:<hex> or as an OCI reference")]
    Unpinned(String),
}

/// The digest of the files a ModelPack holds: SHA-256 over one `<layer digest> <path>` line
/// per layer with a file path, sorted by path. It names the packed directory's content without
/// reading it again, and anyone holding the ModelPack can recompute it.
pub fn directory_digest(pack: &ModelPack) -> Digest {
    let mut lines: Vec<String> = pack
        .layers
        .iter()
        .filter_map(|l| {
            l.filepath
                .as_ref()
                .map(|p| format!("{} {p}\n", l.descriptor.digest))
        })
        .collect();
    lines.sort_by(|a, b| {
        let path = |l: &str| l.split_once(' ').map(|(_, p)| p.to_string());
        path(a).cmp(&path(b))
    });
    Digest::sha256_of(lines.concat().as_bytes())
}

/// A material from `URI@ALG:HEX`.
pub fn pinned_material(text: &str) -> Result<ResourceDescriptor, ProvenanceError> {
    let unpinned = || ProvenanceError::Unpinned(text.to_string());
    let (uri, digest) = text.rsplit_once('@').ok_or_else(unpinned)?;
    let digest: Digest = digest.parse().map_err(|_| unpinned())?;
    if uri.is_empty() {
        return Err(unpinned());
    }
    Ok(ResourceDescriptor {
        uri: Some(uri.to_string()),
        digest: Some(BTreeMap::from([(
            digest.algorithm().name().to_string(),
            digest.hex().to_string(),
        )])),
        ..ResourceDescriptor::default()
    })
}

/// The provenance predicate for `pack`, built as `input` says.
pub fn predicate(
    pack: &ModelPack,
    input: &ProvenanceInput,
) -> Result<ProvenanceV1, ProvenanceError> {
    let context = &input.context;
    let builder_id = context
        .builder_id
        .clone()
        .ok_or(ProvenanceError::NoBuilder)?;
    for time in [&context.started_on, &context.finished_on]
        .into_iter()
        .flatten()
    {
        time.parse::<jiff::Timestamp>()
            .map_err(|_| ProvenanceError::BadTime(time.clone()))?;
    }
    let mut external = Map::new();
    if context.source_repository.is_some() || context.source_ref.is_some() {
        external.insert(
            "source".into(),
            json!({"repository": context.source_repository, "ref": context.source_ref}),
        );
    }
    if let Some(path) = &context.workflow_path {
        external.insert(
            "workflow".into(),
            json!({"path": path, "repository": context.source_repository, "ref": context.source_ref}),
        );
    }
    external.insert(
        "directory".into(),
        json!({
            "path": input.directory,
            "digest": {"sha256": directory_digest(pack).hex()},
        }),
    );
    if let Some(file) = &input.build_file {
        external.insert(
            "buildFile".into(),
            json!({
                "kind": file.kind,
                "path": file.path,
                "digest": {file.digest.algorithm().name(): file.digest.hex()},
            }),
        );
    }
    let mut dependencies = Vec::new();
    if let (Some(repository), Some(commit)) = (&context.source_repository, &context.source_commit) {
        let uri = match &context.source_ref {
            Some(r) => format!("git+{repository}@{r}"),
            None => format!("git+{repository}"),
        };
        dependencies.push(ResourceDescriptor {
            uri: Some(uri),
            digest: Some(BTreeMap::from([("gitCommit".to_string(), commit.clone())])),
            ..ResourceDescriptor::default()
        });
    }
    dependencies.extend(input.materials.iter().cloned());
    let internal = context.ci.as_ref().map(|ci| {
        Value::Object(Map::from_iter([(
            "ci".to_string(),
            Value::String(ci.clone()),
        )]))
    });
    Ok(ProvenanceV1 {
        build_definition: BuildDefinition {
            build_type: BUILD_TYPE.into(),
            external_parameters: external,
            internal_parameters: internal,
            resolved_dependencies: dependencies,
        },
        run_details: RunDetails {
            builder: Builder {
                id: builder_id,
                version: Some(BTreeMap::from([(
                    "modelseal".to_string(),
                    env!("CARGO_PKG_VERSION").to_string(),
                )])),
                builder_dependencies: Vec::new(),
            },
            metadata: Some(BuildMetadata {
                invocation_id: context.invocation_id.clone(),
                started_on: context.started_on.clone(),
                finished_on: context.finished_on.clone(),
            }),
            byproducts: Vec::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn reads_github_actions() {
        let context = BuildContext::from_ci(&env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/models"),
            ("GITHUB_REF", "refs/tags/v1"),
            ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            (
                "GITHUB_WORKFLOW_REF",
                "acme/models/.github/workflows/release.yml@refs/tags/v1",
            ),
            ("RUNNER_ENVIRONMENT", "github-hosted"),
        ]));
        assert_eq!(context.ci.as_deref(), Some("github-actions"));
        assert_eq!(
            context.builder_id.as_deref(),
            Some("https://github.com/actions/runner/github-hosted")
        );
        assert_eq!(
            context.invocation_id.as_deref(),
            Some("https://github.com/acme/models/actions/runs/42/attempts/2")
        );
        assert_eq!(
            context.source_repository.as_deref(),
            Some("https://github.com/acme/models")
        );
        assert_eq!(
            context.workflow_path.as_deref(),
            Some(".github/workflows/release.yml")
        );
    }

    #[test]
    fn reads_gitlab_ci() {
        let context = BuildContext::from_ci(&env_of(&[
            ("GITLAB_CI", "true"),
            ("CI_SERVER_URL", "https://gitlab.example.com"),
            ("CI_RUNNER_ID", "7"),
            (
                "CI_JOB_URL",
                "https://gitlab.example.com/acme/models/-/jobs/99",
            ),
            ("CI_PROJECT_URL", "https://gitlab.example.com/acme/models"),
            ("CI_COMMIT_BRANCH", "main"),
            ("CI_COMMIT_SHA", "abc"),
            ("CI_JOB_STARTED_AT", "2026-12-01T10:00:00Z"),
        ]));
        assert_eq!(context.ci.as_deref(), Some("gitlab-ci"));
        assert_eq!(
            context.builder_id.as_deref(),
            Some("https://gitlab.example.com/-/runners/7")
        );
        assert_eq!(context.source_ref.as_deref(), Some("refs/heads/main"));
        assert_eq!(context.workflow_path.as_deref(), Some(".gitlab-ci.yml"));
        assert_eq!(context.started_on.as_deref(), Some("2026-12-01T10:00:00Z"));
        assert_eq!(BuildContext::from_ci(&env_of(&[])), BuildContext::default());
    }

    #[test]
    fn flags_win_over_the_environment() {
        let flags = BuildContext {
            builder_id: Some("https://builder.example.com".into()),
            ..BuildContext::default()
        };
        let ci = BuildContext {
            builder_id: Some("https://ci.example.com".into()),
            source_commit: Some("abc".into()),
            ..BuildContext::default()
        };
        let merged = flags.or(ci);
        assert_eq!(
            merged.builder_id.as_deref(),
            Some("https://builder.example.com")
        );
        assert_eq!(merged.source_commit.as_deref(), Some("abc"));
    }

    #[test]
    fn materials_must_be_pinned() {
        let digest = Digest::sha256_of(b"base model");
        let material = pinned_material(&format!("hf://acme/base@{digest}")).unwrap();
        assert_eq!(material.uri.as_deref(), Some("hf://acme/base"));
        assert_eq!(material.digest.unwrap()["sha256"], digest.hex().to_string());
        for bad in [
            "hf://acme/base",
            "hf://acme/base@latest",
            &format!("@{digest}"),
        ] {
            assert!(pinned_material(bad).is_err(), "{bad}");
        }
    }
}
