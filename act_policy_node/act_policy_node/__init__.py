"""Real-time ACT inference node with temporal ensembling and command safety."""
