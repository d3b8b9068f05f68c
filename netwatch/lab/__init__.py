"""The simulated Kazakhstan: real DNS/HTTP/TLS servers, fault injection, scenarios, scoring."""
