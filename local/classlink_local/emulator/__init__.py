"""The ClassLink emulator: a real HTTP server on 127.0.0.1 speaking OneRoster 1.1 (and SSO)."""
