"""One recipe per CLI command (train, sft, eval, report) and the setup they share."""
