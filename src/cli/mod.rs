//! Command-line definitions and the only place that prints.

/// `println!` that survives a closed standard output (`modelseal tree … | head`): the rest of
/// the output is dropped and the command still ends with the exit status of its outcome, so
/// a rejection cut short by a pipe is still a rejection. (Restoring the default SIGPIPE
/// action instead would also let a registry that closes a connection kill the process.)
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` likewise.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_stdout(format_args!($($arg)*))
    };
}

mod args;
mod attest;
mod bundle;
mod copy;
mod identity;
mod inspect;
mod keys;
mod output;
mod pack;
mod password;
mod policy;
mod provenance;
mod quickstart;
mod scan;
mod sign;
mod signing;
mod tree;
mod trust;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};
use modelseal::modelpack::ModelPackError;
use modelseal::oci::{Access, RegistryOptions, Store, StoreError};
use modelseal::reference::Reference;

#[derive(Parser)]
#[command(
    name = "modelseal",
    version,
    about = "Sign, attest and admit AI models packaged as OCI artifacts (CNCF ModelPack)",
    long_about = None,
    after_help = "References: `oci:DIR[:TAG|@DIGEST]` is a local OCI image layout directory; \
                  `HOST[:PORT]/REPOSITORY[:TAG|@DIGEST]` is a registry.\n\
                  Exit status: 0 done or verified, 1 rejected, 2 usage or operational error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// How to reach registries; they apply to every registry reference of the command.
#[derive(clap::Args)]
struct RegistryArgs {
    /// Speak plain HTTP, not HTTPS, to the registry HOST[:PORT]; may be given more than once.
    /// Loopback registries that do not speak TLS get plain HTTP anyway, as with docker.
    #[arg(long = "plain-http", value_name = "HOST", global = true)]
    plain_http: Vec<String>,
    /// Trust the certificate authorities in this PEM file for registries, besides the system's.
    /// May be given more than once.
    #[arg(long = "ca-cert", value_name = "FILE", global = true)]
    ca_certs: Vec<PathBuf>,
}

/// The registry options of this run, set once from the command line.
static REGISTRY_OPTIONS: OnceLock<RegistryOptions> = OnceLock::new();

/// Opens the store a reference names, reaching registries as the command line says.
fn open_store(reference: &Reference, access: Access) -> Result<Box<dyn Store>, StoreError> {
    let options = REGISTRY_OPTIONS.get_or_init(RegistryOptions::default);
    modelseal::oci::open_store(reference, access, options)
}

#[derive(Subcommand)]
enum Command {
    /// Pack a sample model into a fresh layout and inspect it: the main job, end to end.
    Quickstart(quickstart::Args),
    /// Build a ModelPack from a directory: one raw layer per file.
    Pack(Box<pack::Args>),
    /// Show a ModelPack's manifest, config and layers after validating them.
    Inspect(inspect::Args),
    /// Sign an artifact's digest with a key or keylessly, in cosign's bundle (default) or
    /// legacy format.
    Sign(sign::SignArgs),
    /// Verify an artifact's signatures with a public key or a keyless identity (exit 0 when one
    /// verifies), or decide with an admission policy (exit 0 admitted, 1 rejected).
    Verify(sign::VerifyArgs),
    /// Attach a signed in-toto attestation (SLSA provenance, scan results, any predicate).
    Attest(Box<attest::AttestArgs>),
    /// Verify an artifact's attestations of one type with a public key or a keyless identity
    /// and print them.
    VerifyAttestation(attest::VerifyAttestationArgs),
    /// Write SLSA provenance v1 for the build of a ModelPack; --attest signs and attaches it.
    Provenance(Box<provenance::Args>),
    /// Scan a ModelPack's layers (pickles, PyTorch archives, safetensors, GGUF); exit 1 when
    /// flagged. --attest signs and attaches the result.
    Scan(Box<scan::Args>),
    /// Check admission policy files.
    #[command(subcommand)]
    Policy(policy::Command),
    /// Verify a Sigstore bundle over a file or digest, keyless or with a key, offline.
    #[command(visible_alias = "verify-blob")]
    VerifyBundle(Box<bundle::Args>),
    /// Refresh the Sigstore trusted root over TUF (the only command that fetches trust
    /// material).
    #[command(subcommand)]
    TrustedRoot(trust::Command),
    /// Show the referrers and signature tags attached to an artifact.
    Tree(tree::Args),
    /// Copy an artifact between stores with every referrer and signature tag.
    #[command(visible_aliases = ["push", "pull"])]
    Copy(copy::Args),
    /// Write a new key pair: P.key (cosign's encrypted format, mode 0600) and P.pub.
    GenerateKeyPair(keys::GenerateArgs),
    /// Print the public key of a private key file.
    PublicKey(keys::PublicKeyArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = REGISTRY_OPTIONS.set(RegistryOptions {
        plain_http: cli.registry.plain_http,
        ca_certs: cli.registry.ca_certs,
    });
    let result = match cli.command {
        Command::Quickstart(args) => quickstart::run(args),
        Command::Pack(args) => pack::run(*args),
        Command::Inspect(args) => inspect::run(args),
        Command::Sign(args) => sign::run_sign(args),
        Command::Verify(args) => sign::run_verify(args),
        Command::Attest(args) => attest::run_attest(*args),
        Command::VerifyAttestation(args) => attest::run_verify_attestation(args),
        Command::Provenance(args) => provenance::run(*args),
        Command::Scan(args) => scan::run(*args),
        Command::Policy(command) => policy::run(command),
        Command::VerifyBundle(args) => bundle::run(*args),
        Command::TrustedRoot(command) => trust::run(command),
        Command::Tree(args) => tree::run(args),
        Command::Copy(args) => copy::run(args),
        Command::GenerateKeyPair(args) => keys::generate(args),
        Command::PublicKey(args) => keys::public_key(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            if is_rejection(&error) {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

/// A verification that ran and said no (exit 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

/// Whether an error means the artifact failed a check (exit 1) rather than the command
/// failing to run (exit 2).
fn is_rejection(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.is::<Rejected>()
            || cause
                .downcast_ref::<ModelPackError>()
                .is_some_and(ModelPackError::is_rejection)
            || cause
                .downcast_ref::<StoreError>()
                .is_some_and(StoreError::is_integrity_failure)
    })
}
