"""Plain functions per aggregate, on the service's scoped session: ``user_repo.get_user(id)``."""
