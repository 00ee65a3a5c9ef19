//! `verify --policy` and `policy lint`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use modelseal::oci::Access;
use modelseal::policy::PolicySet;
use modelseal::policy::evaluate::{Decision, evaluate};
use modelseal::reference::Reference;

use super::Rejected;
use super::inspect::printable;
use super::output::{OutputFormat, print_json};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Load a policy and its rules and report every problem, without evaluating anything.
    Lint {
        /// The policy file (YAML or JSON).
        file: PathBuf,
    },
}

pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Lint { file } => {
            let set = PolicySet::load(&file)?;
            outln!(
                "{}: {} policies, no problems",
                file.display(),
                set.policies.len()
            );
            Ok(())
        }
    }
}

/// Evaluates the policy for `reference`: exit 0 admitted, 1 rejected.
pub fn decide(
    reference: &Reference,
    policy: &Path,
    at: Option<&str>,
    output: OutputFormat,
) -> anyhow::Result<()> {
    let set = PolicySet::load(policy)?;
    let at: jiff::Timestamp = match at {
        Some(text) => text
            .parse()
            .with_context(|| format!("--at {text:?} is not an RFC 3339 time"))?,
        None => modelseal::clock::now(),
    };
    let store = super::open_store(reference, Access::Read)?;
    let decision = evaluate(&set, reference, store.as_ref(), at)?;
    match output {
        OutputFormat::Json => print_json(&serde_json::to_value(&decision)?)?,
        OutputFormat::Text => print_decision(&decision),
    }
    if decision.admitted() {
        return Ok(());
    }
    let failed = decision.failed();
    Err(Rejected(format!(
        "{} is rejected by policy {}: {} failed",
        decision.reference,
        decision.policy.as_deref().unwrap_or("(none)"),
        failed.join(", ")
    ))
    .into())
}

fn print_decision(decision: &Decision) {
    outln!(
        "{} {} by policy {} ({})",
        decision.decision.to_uppercase(),
        decision.reference,
        decision.policy.as_deref().unwrap_or("(none)"),
        decision.digest.as_deref().unwrap_or("not resolved")
    );
    for requirement in &decision.requirements {
        let verdict = if requirement.passed { "pass" } else { "FAIL" };
        outln!("  {verdict}  {}", printable(&requirement.requirement));
        for evidence in &requirement.evidence {
            outln!("        evidence: {}", printable(&evidence.to_string()));
        }
        for reason in &requirement.reasons {
            outln!("        {}", printable(reason));
        }
    }
    for warning in &decision.warnings {
        outln!("  warning: {}", printable(warning));
    }
}
