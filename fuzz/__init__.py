"""Coverage-guided fuzz harnesses (atheris) for asyncweb's parsers: see README.md."""
