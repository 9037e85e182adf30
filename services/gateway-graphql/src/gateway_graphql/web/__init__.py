"""HTTP concerns around the Flask app: session cookie, CORS, CSRF, HSTS, request ids, metrics, JSON
errors."""
