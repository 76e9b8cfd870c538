"""Prefect flows and the ``tierhub`` command line: they orchestrate, the packages below do the work."""

from connectors.config import use_secret_reader
from flows.secrets import prefect_secret

# The sources file's key_block / passphrase_block name Prefect Secret blocks.
use_secret_reader(prefect_secret)
