"""The transport pool: URL building, PHP-style query encoding, auth, retries, shards."""
