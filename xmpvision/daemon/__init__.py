"""`xmpvision daemon`: scheduled jobs and the newly-indexed worker, one at a time, with the
Ollama health monitor (xmpvision.health) running throughout; and what `status` and `doctor`
read and check."""
