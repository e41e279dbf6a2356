"""Request and response bodies of the HTTP API (pydantic), one module per concept."""
