"""The story domain every part shares: X and directive schemas, findings, the critic's deterministic checks,
the episode spec and the Stage 1 / Fountain answer formats. No graph or model code lives here."""
