"""Business rules: signup, authentication, sessions, profiles. No transport code here."""
