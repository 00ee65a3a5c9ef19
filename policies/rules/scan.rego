package modelseal

# Read with defaults: a scan without a result, or without counts, is denied.

verdict := object.get(input.predicate, ["result", "verdict"], "missing")

serious := object.get(input.predicate, ["result", "counts", "critical"], 1) + object.get(input.predicate, ["result", "counts", "high"], 1)

deny contains msg if {
	not verdict in {"clean", "incomplete"}
	msg := sprintf("the scan's verdict is %v", [verdict])
}

deny contains msg if {
	serious > 0
	msg := sprintf("the scan found %v high or critical findings", [serious])
}

warn contains msg if {
	verdict == "incomplete"
	msg := "the scan did not examine every layer"
}
