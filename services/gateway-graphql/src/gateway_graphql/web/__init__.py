"""HTTP concerns around the Flask app: session cookie, CORS, CSRF, request ids, metrics, JSON errors."""
