//! Rego rules, run in-process by regorus in conftest's convention: `package modelseal`, and
//! the sets `deny` and `warn` of messages. Rules are checked when the policy loads (syntax,
//! package) and evaluated per attestation with a time limit, so a rule that loops ends.

use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use super::MAX_RULE_BYTES;
use crate::files::read_limited;

/// How long one evaluation may run before it counts as failed.
const EVALUATION_LIMIT: Duration = Duration::from_secs(2);
const PACKAGE: &str = "data.modelseal";

/// Loaded rules and the documents they see as `data`, compiled once.
#[derive(Clone, Debug)]
pub struct Rules {
    sources: Vec<(String, String)>,
    data: Vec<serde_json::Value>,
    compiled: Option<regorus::Engine>,
}

/// Why rules gave no verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleFailure {
    /// The rules failed on this input (a builtin error, a conflict): the input fails.
    Failed(String),
    /// The rules ran past the evaluation limit: no decision can be made.
    Limit(String),
}

/// What the rules said about one input.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub deny: Vec<String>,
    pub warn: Vec<String>,
}

impl Rules {
    /// Reads and checks rule files and data documents (paths relative to `base`).
    pub fn load(base: &Path, rules: &[String], data: &[String]) -> Result<Rules, Vec<String>> {
        let mut problems = Vec::new();
        let mut sources = Vec::new();
        for name in rules {
            match read_limited(&base.join(name), MAX_RULE_BYTES)
                .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
            {
                Ok(text) => sources.push((name.clone(), text)),
                Err(e) => problems.push(format!("rule file {name}: {e}")),
            }
        }
        let mut documents = Vec::new();
        for name in data {
            let parsed = read_limited(&base.join(name), MAX_RULE_BYTES)
                .and_then(|b| String::from_utf8(b).map_err(|e| e.to_string()))
                .and_then(|t| {
                    serde_saphyr::from_str::<serde_json::Value>(&t).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(value) if value.is_object() => documents.push(value),
                Ok(_) => problems.push(format!("data file {name}: it is not an object")),
                Err(e) => problems.push(format!("data file {name}: {e}")),
            }
        }
        let mut rules = Rules {
            sources,
            data: documents,
            compiled: None,
        };
        if problems.is_empty() {
            // Compile now, so that a syntax error is found before anything is evaluated; and a
            // file set without a deny rule (a misspelt `denny`) would deny nothing.
            match rules.engine() {
                Err(e) => problems.push(e),
                Ok(engine) => {
                    let declares = rules.sources.iter().any(|(name, _)| {
                        engine
                            .has_declared_rule_rooted_at(name, "deny")
                            .unwrap_or(false)
                    });
                    rules.compiled = Some(engine.clone());
                    if !declares {
                        problems.push(format!(
                            "the rules {} declare no deny rule, so they would deny nothing",
                            rules
                                .sources
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(rules)
        } else {
            Err(problems)
        }
    }

    fn engine(&self) -> Result<regorus::Engine, String> {
        let mut engine = regorus::Engine::new();
        // A builtin that fails is an error, not an undefined value a rule could skip past.
        engine.set_strict_builtin_errors(true);
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: EVALUATION_LIMIT,
            check_interval: NonZeroU32::MIN,
        });
        for (name, text) in &self.sources {
            let package = engine
                .add_policy(name.clone(), text.clone())
                .map_err(|e| format!("rule file {name}: {e}"))?;
            if package != PACKAGE {
                return Err(format!(
                    "rule file {name}: its package is {package}, not modelseal (package modelseal)"
                ));
            }
        }
        for document in &self.data {
            let value = regorus::Value::from_json_str(&document.to_string())
                .map_err(|e| format!("data: {e}"))?;
            engine.add_data(value).map_err(|e| format!("data: {e}"))?;
        }
        Ok(engine)
    }

    /// Evaluates the rules over `input`.
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<Verdict, RuleFailure> {
        let classify = |e: String| {
            if e.contains("exceeded time limit") {
                RuleFailure::Limit(format!(
                    "the rules ran past the evaluation limit of {} s: {e}",
                    EVALUATION_LIMIT.as_secs()
                ))
            } else {
                RuleFailure::Failed(e)
            }
        };
        let mut engine = match &self.compiled {
            Some(engine) => engine.clone(),
            None => self.engine().map_err(classify)?,
        };
        engine
            .set_input_json(&input.to_string())
            .map_err(|e| classify(format!("the input: {e}")))?;
        Ok(Verdict {
            deny: messages(&mut engine, "deny").map_err(classify)?,
            warn: messages(&mut engine, "warn").map_err(classify)?,
        })
    }
}

/// The messages of the set rule `name`, sorted (a rule the files do not define has none).
fn messages(engine: &mut regorus::Engine, name: &str) -> Result<Vec<String>, String> {
    let results = engine
        .eval_query(format!("{PACKAGE}.{name}"), false)
        .map_err(|e| format!("evaluating {name}: {e}"))?;
    let Some(value) = results
        .result
        .first()
        .and_then(|r| r.expressions.first())
        .map(|e| e.value.clone())
    else {
        return Ok(Vec::new());
    };
    let json = value
        .to_json_str()
        .map_err(|e| format!("reading {name}: {e}"))?;
    // Anything but a set of messages is an error: an unreadable deny must not read as empty.
    let parsed: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| format!("reading {name}: {e}"))?;
    let mut found: Vec<String> = match parsed {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        other => {
            return Err(format!("{name} is {other}, not a set of messages"));
        }
    };
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(dir: &Path, text: &str) -> Rules {
        std::fs::write(dir.join("r.rego"), text).unwrap();
        Rules::load(dir, &["r.rego".to_string()], &[]).unwrap()
    }

    #[test]
    fn a_deny_that_is_not_a_set_of_messages_fails_closed() {
        let dir = tempfile::tempdir().unwrap();
        let input = serde_json::json!({});
        for text in [
            "package modelseal\n\ndeny := null\n",
            "package modelseal\n\ndeny := {\"a\": 1}\n",
        ] {
            let verdict = rules(dir.path(), text).evaluate(&input);
            assert!(
                matches!(verdict, Err(RuleFailure::Failed(_))),
                "{text}: {verdict:?}"
            );
        }
        let verdict = rules(
            dir.path(),
            "package modelseal\n\ndeny contains \"no\" if { true }\n",
        )
        .evaluate(&input)
        .unwrap();
        assert_eq!(verdict.deny, vec!["no".to_string()]);
    }

    #[test]
    fn bounded_work_decides_within_the_evaluation_limit() {
        // 40 000 iterations, well inside the limit even unoptimised; the integration test
        // `bad_policies_are_errors_and_decide_nothing` runs 25 million, which are stopped.
        let dir = tempfile::tempdir().unwrap();
        let verdict = rules(
            dir.path(),
            "package modelseal\n\ndeny contains msg if {\n\tsome i in numbers.range(1, 200)\n\tsome j in numbers.range(1, 200)\n\ti * j == 40000\n\tmsg := sprintf(\"%d\", [i])\n}\n",
        )
        .evaluate(&serde_json::json!({}))
        .unwrap();
        assert_eq!(verdict.deny, vec!["200".to_string()]);
    }
}
