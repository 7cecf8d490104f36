"""The linter's rules: one module per rule, each with RULE_ID, SUMMARY, SEVERITY and check()."""
