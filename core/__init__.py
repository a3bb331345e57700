"""Platform-neutral domain of Campus Helpdesk Bot: directory, policies, tokens, mail, audit."""
