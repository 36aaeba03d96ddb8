"""The store: pynamodb models of the account directory and roster, the planner's read interface
(``view.DynamoRosterView``), ``apply.apply_plan``, districts (R1), run records (SPEC §3), leases and
daily slots (R14), and account operations (import, R2 reset, sign-in lookup, R13 check).

Key design and access patterns: docs/store.md. Submodules are imported on use (cold start).
"""
