"""What several features share: each service is called by feature modules, never the reverse."""
