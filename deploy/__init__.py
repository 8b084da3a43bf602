"""Deployment files: the container health check and the load balancer's configuration."""
