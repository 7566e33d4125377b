"""Privacy: pseudonymous keys, and later disclosure control and anonymity checks."""
