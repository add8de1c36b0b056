"""Data layer: the embedded world (generation, rendering, labels, cache), public-data loaders, validation and
Lightning DataModules."""
from .cache import load_world, read_world, save_world
from .world import WORLD_PRESETS, World, WorldConfig, generate_world, intent_labels, world_config

__all__ = ["WORLD_PRESETS", "World", "WorldConfig", "generate_world", "intent_labels", "load_world", "read_world",
           "save_world", "world_config"]
