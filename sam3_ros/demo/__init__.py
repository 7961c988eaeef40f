"""The demo: the node on real footage, with a footage player."""
