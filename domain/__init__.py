"""The pure Orders model: commands, events, the decider, errors and ports."""
