"""Simulation kernels: random streams, exact SSA, tau-leaping and the deterministic limit."""
