"""One repository per aggregate; repositories take a session and never commit."""
