"""Producer and consumer SDKs for applications and downstream inference services."""
