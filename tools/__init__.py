"""Release tooling of the kit: versions, changelogs, import boundaries, publishing (nox sessions)."""
