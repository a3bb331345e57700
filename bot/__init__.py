"""The chat side of Campus Helpdesk Bot: engine, flows, adapters, web app, CLI."""
