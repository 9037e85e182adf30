"""Plain functions per aggregate on the session they are given: ``user_repo.get_user(session, id)``."""
