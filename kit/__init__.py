"""The machinery that proves the kit; nothing in the product imports it."""
