"""The Ollama health monitor: speed drift and GPU loss detected from the answers and probes of
every long run, and the restart that fixes them. Below `jobs`, so that every run has one; the
daemon keeps one for its whole life."""
