"""One module per CLI command; see pipelines/cli.py for the protocol."""
