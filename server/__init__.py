"""The HTTP edge: settings, the GraphQL view, health and the Starlette application."""
