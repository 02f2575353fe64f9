"""A synthetic SaaS customer base whose events exercise every rule: `pulse simulate`.

Deterministic from a seed, with ground truth (who cancelled, when) to measure
the engine's triggers against (`pulse evaluate`).
"""

from engine.simulator.generator import (
    DEFAULT_START,
    AccountTruth,
    Record,
    Simulation,
    SimulationConfig,
)
from engine.simulator.population import DEFAULT_PERSONA_MIX, Persona
from engine.simulator.product import CORE_FEATURES, PREMIUM_FEATURES

__all__ = [
    "CORE_FEATURES",
    "DEFAULT_PERSONA_MIX",
    "DEFAULT_START",
    "PREMIUM_FEATURES",
    "AccountTruth",
    "Persona",
    "Record",
    "Simulation",
    "SimulationConfig",
]
