"""RME engineers' web console: static files served by the server."""
