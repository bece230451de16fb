"""The embedded phenotype ranker (HPO/Orphanet) that scores a profile on the CPU."""
