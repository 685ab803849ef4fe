"""The LLM judges: the paper's 12-point rubric (critic and evaluation), the pairwise judge and the verdict
base they share."""
