package modelseal

result := input.predicate.result

deny contains msg if {
	result.verdict == "flagged"
	msg := sprintf("the scan flagged the model (most severe finding: %v)", [result.highestSeverity])
}

deny contains msg if {
	count := result.counts.critical + result.counts.high
	count > 0
	msg := sprintf("the scan found %v high or critical findings", [count])
}

warn contains msg if {
	result.verdict == "incomplete"
	msg := "the scan did not examine every layer"
}
