"""Deploy: the stack model applied to a Docker Engine through the Docker SDK."""
