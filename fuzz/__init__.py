"""Coverage-guided fuzz harnesses (atheris) for asyncweb's parsers: see fuzz/README.md."""
