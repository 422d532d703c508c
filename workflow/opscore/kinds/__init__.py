"""Variant kinds: the registry (``registry.KINDS``) that names every technique's grammar, what it takes,
the artifact it leaves, its runtime, its config section and studies, and how chains of kinds parse.
Imports no other wing."""
