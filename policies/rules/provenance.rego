package modelseal

# The input is documented in docs/policy.md: statement, predicateType, predicate, signer,
# subject, modelpack and now. Every value is read with a default, so that a missing field is
# denied rather than leaving the rule undefined (which would admit).

builder := object.get(input.predicate, ["runDetails", "builder", "id"], "")

deny contains msg if {
	not builder in data.trusted_builders
	msg := sprintf("the builder %v is not trusted", [builder])
}

repository := object.get(input.predicate, ["buildDefinition", "externalParameters", "source", "repository"], "")

deny contains msg if {
	not repository in data.trusted_repositories
	msg := sprintf("the source repository %v is not trusted", [repository])
}
