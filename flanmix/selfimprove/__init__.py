"""Self-improvement data (Huang et al. 2022, "Large Language Models Can Self-Improve"):
sampling requests for any inference engine, and the engine's sampled reasoning turned, by
majority vote, into an ordinary flanmix task."""
