"""This is School's ClassLink integration: fetch -> validate -> plan -> apply (see DESIGN.md)."""
